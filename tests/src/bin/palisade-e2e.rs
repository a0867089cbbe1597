//! The real `palisade` command, built inside the test crate so its integration
//! tests can spawn it (`CARGO_BIN_EXE_palisade-e2e`) for signal and kill tests.

fn main() -> std::process::ExitCode {
    palisade::cli::main()
}
