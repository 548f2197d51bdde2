//! One descriptor chain of a virtio-9p request queue served by a 9P [`Session`]: the T-message
//! read from the chain's readable buffers, the R-message written to its writable ones.
//!
//! Linux's 9pnet_virtio puts a request and the room for its reply in one chain. For large
//! reads and writes the data pages follow the first bytes of the message in the same chain
//! (a Twrite's 23-byte header then its data; an Rread's 11 bytes then the pages to fill), in
//! message order, so the readable side is one whole frame and the reply is written straight
//! through. Guest memory is read and written with volatile copies (the `guest` module).

use std::io::{Read, Write};
use std::ops::Deref;

use ferry_9p::{Reply, HEADER};
use virtio_queue::DescriptorChain;
use vm_memory::GuestMemoryMmap;

use super::guest;
use crate::fs::Backend;
use crate::p9::Session;

/// Serves one chain; returns the used length (bytes written to the guest).
pub fn serve_p9_chain<F, M>(session: &mut Session<F>, chain: DescriptorChain<M>) -> u32
where
    F: Backend,
    M: Deref<Target = GuestMemoryMmap> + Clone,
{
    let mem = chain.memory();
    let Some((mut reader, mut writer)) = guest::sides(mem, &chain) else {
        return 0;
    };
    let mut head = [0u8; HEADER];
    if reader.len() < HEADER || reader.read_exact(&mut head).is_err() {
        return 0;
    }
    let size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let tag = u16::from_le_bytes([head[5], head[6]]);
    let mut out = Vec::new();
    if size < HEADER || size > session.max_frame() as usize || size > HEADER + reader.len() {
        // A frame larger than msize, or than the chain: nothing is read of it.
        Reply::error(&mut out, tag, libc::EMSGSIZE as u32).finish();
    } else {
        let mut frame = vec![0u8; size];
        frame[..HEADER].copy_from_slice(&head);
        if reader.read_exact(&mut frame[HEADER..]).is_err() {
            return 0;
        }
        session.handle(&frame, &mut out);
    }
    if out.len() > writer.len() {
        // The guest gave less room than the reply needs (it sizes it from msize): tell it so
        // if even that fits.
        out.clear();
        Reply::error(&mut out, tag, libc::ERANGE as u32).finish();
        if out.len() > writer.len() {
            return 0;
        }
    }
    match writer.write_all(&out) {
        Ok(()) => out.len() as u32,
        Err(_) => 0,
    }
}
