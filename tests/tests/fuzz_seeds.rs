//! The fuzz targets' bodies (`fuzz/src`, run by libFuzzer through
//! `bench/fuzz.sh` on nightly) compiled here on stable and run over their
//! committed seeds (`fuzz/seeds/<target>/`): the targets keep building against
//! the crates they fuzz, their fixed configs and spec keep loading, and every
//! input a fuzzer once crashed on, kept as a seed, keeps passing.

#[path = "../../fuzz/src/lib.rs"]
mod fuzz;

#[test]
fn every_fuzz_target_passes_its_seeds() {
    fuzz::init_engines();
    let seeds = palisade_models::crate_dir!().join("../fuzz/seeds");
    for (name, run) in fuzz::TARGETS {
        let dir = seeds.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "target {name} has no seed");
        for f in files {
            let data = std::fs::read(&f).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "target {name} fails on {}", f.display());
        }
    }
}
