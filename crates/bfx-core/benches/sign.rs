//! Signing one authenticated request: `bfx_core::sign::sign` (HMAC-SHA384 over
//! `/api/` + path + nonce + body, hex). `cargo bench -p bfx-core --bench sign`; see BENCHMARKS.md.

use bfx_core::Nonce;
use bfx_core::sign::sign;
use divan::black_box;

fn main() {
    divan::main();
}

const SECRET: &[u8] = b"bench-bfx-secret-0123456789abcdef0123456789abcdef";
const PATH: &str = "v2/auth/r/wallets";

/// The body `bfx balances` sends: empty.
#[divan::bench]
fn wallets_empty_body() -> String {
    sign(
        black_box(SECRET),
        black_box(PATH),
        black_box(Nonce::new_unchecked(1_700_000_000_000_000)),
        black_box(b""),
    )
}

/// A larger body, to show the cost per byte.
#[divan::bench(args = [2, 256, 4096])]
fn body_bytes(bencher: divan::Bencher, len: usize) {
    let body = vec![b'x'; len];
    bencher.bench(|| {
        sign(
            black_box(SECRET),
            black_box(PATH),
            black_box(Nonce::new_unchecked(1_700_000_000_000_000)),
            black_box(&body),
        )
    });
}
