//! The `palisade` command. Everything lives in the library, so the end-to-end tests
//! run the same code.

fn main() -> std::process::ExitCode {
    palisade::cli::main()
}
