//! A 9P connection: frames off a byte stream, replies onto it.

use std::io::{self, Read, Write};

use ferry_9p::{Reply, HEADER};

use super::Session;
use crate::fs::Backend;

/// Serves `stream` until the client closes it (Ok) or it fails (Err). A frame larger than
/// the negotiated msize is read and dropped, and answered EMSGSIZE; a size field under 7
/// (no room for a header) ends the connection, as nothing after it can be framed.
pub fn serve<F: Backend, S: Read + Write>(
    session: &mut Session<F>,
    stream: &mut S,
) -> io::Result<()> {
    let mut frame = Vec::new();
    let mut out = Vec::new();
    loop {
        let mut size = [0u8; 4];
        match read_full(stream, &mut size)? {
            0 => return Ok(()),
            4 => {}
            _ => return Err(io::ErrorKind::UnexpectedEof.into()),
        }
        let n = u32::from_le_bytes(size);
        if (n as usize) < HEADER {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("9P frame size {n}"),
            ));
        }
        out.clear();
        if n > session.max_frame() {
            let mut head = [0u8; 3];
            stream.read_exact(&mut head)?;
            let skipped = io::copy(&mut (&mut *stream).take(u64::from(n) - 7), &mut io::sink())?;
            if skipped != u64::from(n) - 7 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            log::debug!(
                "9P: a {n}-byte frame over msize {} dropped",
                session.max_frame()
            );
            let tag = u16::from_le_bytes([head[1], head[2]]);
            Reply::error(&mut out, tag, libc::EMSGSIZE as u32).finish();
        } else {
            frame.clear();
            frame.extend_from_slice(&size);
            frame.resize(n as usize, 0);
            stream.read_exact(&mut frame[4..])?;
            session.handle(&frame, &mut out);
        }
        stream.write_all(&out)?;
        stream.flush()?;
    }
}

/// Reads into `buf` until it is full or the stream ends; returns the bytes read.
fn read_full<S: Read>(stream: &mut S, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match stream.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
