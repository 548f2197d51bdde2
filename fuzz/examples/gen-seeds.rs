//! Writes the seed corpus: `cargo run --example gen-seeds` from fuzz/ fills `corpus/<target>/`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let sets = [
        ("decode", ferry_fuzz::seeds::sessions()),
        ("request_path", ferry_fuzz::seeds::sessions()),
        ("virtqueue", ferry_fuzz::seeds::virtqueues()),
        ("p9_decode", ferry_fuzz::p9::seeds()),
        ("p9_request_path", ferry_fuzz::p9::seeds()),
    ];
    for (target, seeds) in sets {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in seeds {
            std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
        }
    }
    Ok(())
}
