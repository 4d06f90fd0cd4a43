# Everyday commands. `cargo install just` if you don't have it; each recipe is one plain command.

# The offline demo: sandbox provider + gateway on loopback, every feature exercised.
demo:
    cargo run -p tidegate -- demo

# The whole test suite (the README's test command).
test *ARGS:
    bash scripts/test.sh {{ARGS}}

# Criterion micro-benchmarks (side by side with the peers they are compared to).
bench *ARGS:
    cargo bench {{ARGS}}

# Proxy throughput vs nginx and the direct upstream (wrk), proxy memory on 1 GiB bodies, and the
# end-to-end load test (every layer on, 3 processes on PostgreSQL + Redis); docs/performance.md.
loadtest:
    bash benches/proxy_throughput.sh
    bash benches/proxy_memory.sh
    bash benches/e2e_loadtest.sh

# Formatting and lints exactly as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# What CI runs on a clean clone.
ci:
    bash .ci/run
