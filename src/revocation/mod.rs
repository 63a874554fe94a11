//! The DynamoDB revocation table (the reference solution's schema): the items as plain data
//! ([`item`]) apart from the SDK calls ([`dynamodb`]); [`select`] is what blocks now, and
//! [`manual`] the operator's changes.

pub mod dynamodb;
pub mod item;
pub mod manual;
pub mod select;

pub use dynamodb::{ActiveItems, GSI_NAME, RevocationTable, WriteSummary};
pub use item::{
    ALLOWED, AllowItem, AutoItem, CTA_REASON, ItemType, ListedItem, ManualItem, REASON,
    RevocationItem, reason_for,
};
pub use manual::{
    DEFAULT_ALLOW_MINUTES, DEFAULT_MANUAL_TTL_SECONDS, list_revocations, revoke, unrevoke,
};
pub use select::{
    DEFAULT_RETENTION_MINUTES, MASS_UNBLOCK_MIN_RULES, Selection, is_live, is_mass_unblock,
    read_active, rule_order, select,
};
