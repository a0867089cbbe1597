//! The sample API's fixed dataset: users, products and orders, derived
//! arithmetically from their ids so every run (and every test) sees the same
//! objects without an RNG.
//!
//! Owns only data and lookups; it knows nothing of HTTP and must not enforce
//! any access control, because the sample API is deliberately vulnerable to
//! BOLA and Palisade is what notices.

use std::sync::LazyLock;

use serde::Serialize;

/// Sequential from here so that a BOLA walk (`/api/orders/1000`, `1001`, ...)
/// is as easy as it is against real APIs with auto-increment keys.
pub(super) const FIRST_ORDER_ID: u64 = 1000;
const ORDER_COUNT: u64 = 300;
const PRODUCT_COUNT: u64 = 250;

/// 2023-01-01T00:00:00Z: users sign up through 2023-24, orders come in 2025,
/// so every order is younger than its owner.
const USERS_EPOCH: u64 = 1_672_531_200;
/// 2025-01-06T00:00:00Z.
const ORDERS_EPOCH: u64 = 1_736_121_600;

const USERS: [(&str, &str); 20] = [
    ("alice", "Alice Anderson"),
    ("bob", "Bob Brennan"),
    ("carol", "Carol Castillo"),
    ("dave", "Dave Dubois"),
    ("erin", "Erin Eriksen"),
    ("frank", "Frank Fischer"),
    ("grace", "Grace Gallagher"),
    ("heidi", "Heidi Hoffmann"),
    ("ivan", "Ivan Ivanov"),
    ("judy", "Judy Jensen"),
    ("mallory", "Mallory Moreau"),
    ("niaj", "Niaj Nakamura"),
    ("olivia", "Olivia Okafor"),
    ("peggy", "Peggy Pereira"),
    ("rupert", "Rupert Rossi"),
    ("sybil", "Sybil Schneider"),
    ("trent", "Trent Tanaka"),
    ("victor", "Victor Volkov"),
    ("walter", "Walter Wright"),
    ("wendy", "Wendy Whitfield"),
];

/// (category, base price in cents, nouns). Each category gets one product per
/// adjective, so names stay unique without a lookup table.
const CATEGORIES: [(&str, u64, [&str; 5]); 10] = [
    (
        "kitchen",
        1_200,
        [
            "Kettle",
            "Chef's Knife",
            "Skillet",
            "Cutting Board",
            "Teapot",
        ],
    ),
    (
        "electronics",
        2_900,
        ["Headphones", "Charger", "Speaker", "Webcam", "Keyboard"],
    ),
    (
        "outdoor",
        2_400,
        ["Backpack", "Tent", "Water Bottle", "Headlamp", "Hammock"],
    ),
    (
        "office",
        600,
        [
            "Notebook",
            "Desk Lamp",
            "Pen Set",
            "Monitor Stand",
            "Stapler",
        ],
    ),
    (
        "apparel",
        1_500,
        ["Hoodie", "Rain Jacket", "Beanie", "Socks", "T-Shirt"],
    ),
    (
        "home",
        1_800,
        ["Throw Blanket", "Candle", "Vase", "Wall Clock", "Cushion"],
    ),
    (
        "toys",
        900,
        ["Puzzle", "Kite", "Building Set", "Plush Fox", "Board Game"],
    ),
    (
        "garden",
        1_100,
        ["Trowel", "Planter", "Hose Nozzle", "Pruners", "Seed Kit"],
    ),
    (
        "fitness",
        1_300,
        [
            "Yoga Mat",
            "Jump Rope",
            "Kettlebell",
            "Foam Roller",
            "Resistance Band",
        ],
    ),
    (
        "books",
        700,
        ["Cookbook", "Field Guide", "Atlas", "Sketchbook", "Journal"],
    ),
];

const ADJECTIVES: [&str; 25] = [
    "Classic",
    "Compact",
    "Deluxe",
    "Eco",
    "Everyday",
    "Heritage",
    "Lightweight",
    "Modern",
    "Nordic",
    "Pro",
    "Rustic",
    "Slim",
    "Sturdy",
    "Travel",
    "Vintage",
    "Urban",
    "Premium",
    "Essential",
    "Cosy",
    "Bold",
    "Minimal",
    "Coastal",
    "Alpine",
    "Studio",
    "Weekend",
];

#[derive(Debug, Serialize)]
pub(super) struct User {
    pub id: u64,
    pub username: &'static str,
    pub email: String,
    pub name: &'static str,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct Product {
    pub id: u64,
    pub name: String,
    pub price_cents: u64,
    pub category: &'static str,
}

#[derive(Debug, Serialize)]
pub(super) struct OrderItem {
    pub product_id: u64,
    pub qty: u64,
    pub price_cents: u64,
}

#[derive(Debug, Serialize)]
pub(super) struct Order {
    pub id: u64,
    pub user_id: u64,
    pub items: Vec<OrderItem>,
    pub total_cents: u64,
    pub status: &'static str,
    pub created_at: String,
}

#[derive(Debug)]
pub(super) struct Dataset {
    users: Vec<User>,
    pub products: Vec<Product>,
    orders: Vec<Order>,
    /// Indices into `orders`, per user index, so `/users/{id}/orders` is not
    /// a scan of every order.
    orders_by_user: Vec<Vec<usize>>,
}

/// Built on first use and shared by every router, so requests never rebuild it.
pub(super) static DATASET: LazyLock<Dataset> = LazyLock::new(Dataset::build);

impl Dataset {
    fn build() -> Self {
        let users: Vec<User> = (1u64..)
            .zip(USERS)
            .map(|(id, (username, name))| User {
                id,
                username,
                email: format!("{username}@example.com"),
                name,
                // ~5 weeks apart plus an hour-of-day jitter.
                created_at: rfc3339(USERS_EPOCH + id * 36 * 86_400 + (id * 7 % 13) * 3_600),
            })
            .collect();

        let products: Vec<Product> = (1..=PRODUCT_COUNT).map(product).collect();

        let mut orders_by_user = vec![Vec::new(); users.len()];
        let orders: Vec<Order> = (0..ORDER_COUNT)
            .map(|n| {
                let order = order(n, &products, users.len() as u64);
                orders_by_user[user_index(order.user_id)].push(n as usize);
                order
            })
            .collect();

        Self {
            users,
            products,
            orders,
            orders_by_user,
        }
    }

    pub(super) fn user(&self, id: u64) -> Option<&User> {
        self.users.get(usize::try_from(id.checked_sub(1)?).ok()?)
    }

    pub(super) fn user_by_username(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }

    pub(super) fn orders_of(&self, user_id: u64) -> Option<impl Iterator<Item = &Order>> {
        let user = self.user(user_id)?;
        Some(
            self.orders_by_user[user_index(user.id)]
                .iter()
                .map(|&i| &self.orders[i]),
        )
    }

    pub(super) fn order(&self, id: u64) -> Option<&Order> {
        self.orders
            .get(usize::try_from(id.checked_sub(FIRST_ORDER_ID)?).ok()?)
    }

    pub(super) fn product(&self, id: u64) -> Option<&Product> {
        self.products.get(usize::try_from(id.checked_sub(1)?).ok()?)
    }
}

fn user_index(user_id: u64) -> usize {
    // User ids are 1..=USERS.len(), so this never truncates.
    (user_id - 1) as usize
}

/// Each user's password is distinct, as on a real service, so a credential
/// stuffing demo must actually guess pairs rather than one shared secret.
pub(super) fn password_for(username: &str) -> String {
    format!("{username}-demo-pass")
}

/// An opaque, stable token: nothing checks it yet, but a deterministic value
/// lets demos and tests recognise whose session a request claims to be.
pub(super) fn token_for(username: &str) -> String {
    // FNV-1a 64: tiny, dependency-free and identical on every platform.
    let hash = username.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("demo-{hash:016x}")
}

fn product(id: u64) -> Product {
    let i = id - 1;
    let (category, base, nouns) = CATEGORIES[(i % 10) as usize];
    let adjective = ADJECTIVES[(i / 10) as usize % ADJECTIVES.len()];
    let noun = nouns[(i / 10 + i % 10) as usize % nouns.len()];
    Product {
        id,
        name: format!("{adjective} {noun}"),
        // Retail-looking prices ending in .99 rather than round numbers.
        price_cents: base + (i * 7_919 % 97) * 100 + 99,
        category,
    }
}

fn order(n: u64, products: &[Product], user_count: u64) -> Order {
    // 7 is coprime with 20, so consecutive orders hop between owners while
    // every user still ends up with the same number of orders.
    let user_id = (n * 7 + n / user_count) % user_count + 1;
    let items: Vec<OrderItem> = (0..1 + n * 5 % 4)
        .map(|k| {
            // Offsets 0, 97, 194, 291 are distinct mod 250: no duplicate lines.
            let product = &products[((n * 31 + k * 97) % products.len() as u64) as usize];
            OrderItem {
                product_id: product.id,
                qty: 1 + (n + k) % 3,
                price_cents: product.price_cents,
            }
        })
        .collect();
    let total_cents = items.iter().map(|item| item.qty * item.price_cents).sum();
    // The newest orders are still in flight; older ones are mostly delivered.
    let status = match n {
        _ if n >= ORDER_COUNT - 15 => "processing",
        _ if n >= ORDER_COUNT - 35 => "shipped",
        _ if n.is_multiple_of(23) => "cancelled",
        _ if n.is_multiple_of(31) => "refunded",
        _ => "delivered",
    };
    Order {
        id: FIRST_ORDER_ID + n,
        user_id,
        items,
        total_cents,
        status,
        // Roughly one order a day, at varying times of day.
        created_at: rfc3339(ORDERS_EPOCH + n * 86_400 + (n * 4_271 % 50_000) + 21_600),
    }
}

/// Formats Unix seconds as RFC 3339 UTC; no date crate is a dependency and
/// these dates never need more than this.
fn rfc3339(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    // Howard Hinnant's civil_from_days, for dates after 1970 only.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(USERS_EPOCH), "2023-01-01T00:00:00Z");
        assert_eq!(rfc3339(ORDERS_EPOCH), "2025-01-06T00:00:00Z");
        // A leap day, to exercise the March-based year.
        assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn dataset_is_consistent() {
        let data = &*DATASET;
        let mut names: Vec<_> = data.products.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), data.products.len(), "product names are unique");
        for user in &data.users {
            let orders: Vec<_> = data.orders_of(user.id).expect("user exists").collect();
            assert!(orders.len() >= 10, "{} has too few orders", user.username);
            assert!(
                orders
                    .iter()
                    .all(|o| o.user_id == user.id && o.created_at > user.created_at)
            );
        }
        for order in &data.orders {
            let sum: u64 = order.items.iter().map(|i| i.qty * i.price_cents).sum();
            assert_eq!(sum, order.total_cents);
            assert!(
                order
                    .items
                    .iter()
                    .all(|i| data.product(i.product_id).is_some())
            );
        }
    }
}
