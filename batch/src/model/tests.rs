use super::*;
use palisade_models::ClientName;

/// A small deterministic generator (xorshift), so populations are the same on
/// every run.
struct Gen(u64);

impl Gen {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// Browsing users, API integrations (regular, writing), and `outliers` planted
/// scrapers and token guessers; returns the features and which rows are planted.
fn population(normal: usize, outliers: usize, seed: u64) -> (ClientFeatures, Vec<bool>) {
    let mut g = Gen(seed | 1);
    let mut f = ClientFeatures::default();
    let mut planted = Vec::new();
    for i in 0..normal + outliers {
        let v = if i >= normal {
            if i.is_multiple_of(2) {
                // A scraper: fast, metronomic, one endpoint, many objects.
                [
                    g.range(200.0, 400.0),
                    g.range(1.0, 2.0).floor(),
                    g.range(0.0, 0.02),
                    0.0,
                    g.range(300.0, 800.0).floor(),
                    0.0,
                    g.range(0.02, 0.1),
                    g.range(3000.0, 6000.0),
                ]
            } else {
                // A token guesser: mostly refused, one or two endpoints.
                [
                    g.range(20.0, 60.0),
                    g.range(1.0, 3.0).floor(),
                    g.range(0.0, 0.05),
                    g.range(0.7, 0.95),
                    g.range(0.0, 3.0).floor(),
                    g.range(0.0, 0.2),
                    g.range(0.2, 0.5),
                    g.range(100.0, 300.0),
                ]
            }
        } else if i.is_multiple_of(4) {
            // An API integration.
            [
                g.range(10.0, 40.0),
                g.range(2.0, 5.0).floor(),
                g.range(0.0, 0.03),
                g.range(0.0, 0.01),
                g.range(5.0, 40.0).floor(),
                g.range(0.3, 0.6),
                g.range(0.1, 0.4),
                g.range(300.0, 900.0),
            ]
        } else {
            // A person browsing.
            [
                g.range(1.0, 8.0),
                g.range(3.0, 12.0).floor(),
                g.range(0.0, 0.08),
                g.range(0.0, 0.03),
                g.range(1.0, 15.0).floor(),
                g.range(0.0, 0.15),
                g.range(0.8, 2.0),
                g.range(1000.0, 4000.0),
            ]
        };
        f.clients
            .push(ClientName::Subject(format!("client{i}").into()));
        f.requests.push(100);
        f.values.push(v);
        planted.push(i >= normal);
    }
    (f, planted)
}

fn settings() -> ModelSettings {
    ModelSettings {
        clusters: 4,
        min_clients: 50,
        min_cluster_share: 0.05,
    }
}

/// Default `analytics.detectors.unusual_client.min_score`.
const MIN_SCORE: f64 = 2.0;

#[test]
fn planted_outliers_are_found_and_normal_clients_are_not() {
    for seed in [1, 2, 3] {
        let (f, planted) = population(600, 20, seed);
        let m = ClientModel::fit(&f, &settings(), 1).unwrap().unwrap();
        let found = m.unusual(&f, MIN_SCORE);
        let index = |c: &ClientName| f.clients.iter().position(|x| x == c).unwrap();
        let tp = found.iter().filter(|u| planted[index(&u.client)]).count();
        let fp = found.len() - tp;
        let precision = tp as f64 / found.len().max(1) as f64;
        let recall = tp as f64 / 20.0;
        println!(
            "seed {seed}: precision {precision:.2}, recall {recall:.2} ({tp} of 20 planted, {fp} of 600 normal flagged)"
        );
        assert!(
            precision >= 0.9 && recall >= 0.9,
            "seed {seed}: precision {precision:.2}, recall {recall:.2} ({tp} of 20 planted found, {fp} of 600 normal flagged)"
        );
    }
}

#[test]
fn a_finding_names_the_features_that_set_the_client_apart() {
    let (f, _) = population(600, 20, 7);
    let m = ClientModel::fit(&f, &settings(), 1).unwrap().unwrap();
    // Row 600 is a scraper (even index), 601 a token guesser.
    let found = m.unusual(&f, MIN_SCORE);
    let scraper = found
        .iter()
        .find(|u| u.client == f.clients[600])
        .expect("the scraper is found");
    let names: Vec<&str> = scraper.features.iter().map(|d| &*d.name).collect();
    assert!(
        names.contains(&"distinct_objects") || names.contains(&"rate_per_min"),
        "{names:?}"
    );
    let top = &scraper.features[0];
    assert!(top.share > 0.2 && top.share <= 1.0, "{top:?}");
    assert!(top.value > top.typical, "{top:?}");
    let guesser = found
        .iter()
        .find(|u| u.client == f.clients[601])
        .expect("the token guesser is found");
    assert_eq!(
        &*guesser.features[0].name, "auth_failure_ratio",
        "{guesser:?}"
    );
}

#[test]
fn a_small_group_of_alike_outliers_does_not_become_normal() {
    // 5% would be a cluster of its own with k = 4; 2% is kept out as minor.
    let (f, planted) = population(600, 12, 11);
    let m = ClientModel::fit(&f, &settings(), 1).unwrap().unwrap();
    assert!(
        m.sizes.iter().all(|&s| s >= 30),
        "kept clusters {:?}",
        m.sizes
    );
    let found = m.unusual(&f, MIN_SCORE);
    let planted_found = found
        .iter()
        .filter(|u| planted[f.clients.iter().position(|x| *x == u.client).unwrap()])
        .count();
    assert_eq!(planted_found, 12);
}

#[test]
fn too_few_clients_fit_nothing_and_the_model_round_trips() {
    let (f, _) = population(30, 0, 5);
    assert!(ClientModel::fit(&f, &settings(), 1).unwrap().is_none());
    let (f, _) = population(200, 5, 5);
    let m = ClientModel::fit(&f, &settings(), 42).unwrap().unwrap();
    assert!(m.compatible());
    assert_eq!(m.fitted_ms, 42);
    // JSON keeps every number to within an ulp or so (serde_json's default
    // parser): the stored model scores as the fitted one.
    let back: ClientModel = serde_json::from_slice(&serde_json::to_vec(&m).unwrap()).unwrap();
    assert!(back.compatible());
    assert_eq!(back.sizes, m.sizes);
    for (a, b) in back
        .centroids
        .iter()
        .flatten()
        .zip(m.centroids.iter().flatten())
    {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    let (x, y) = (back.unusual(&f, MIN_SCORE), m.unusual(&f, MIN_SCORE));
    assert_eq!(x.len(), y.len());
    for (a, b) in x.iter().zip(&y) {
        assert_eq!(a.client, b.client);
        assert!((a.score - b.score).abs() < 1e-9);
    }
    let mut other = m.clone();
    other.features[0] = "renamed".into();
    assert!(!other.compatible());
}
