//! The DynamoDB revocation table (the reference solution's schema): the items as plain data
//! ([`item`]) apart from the SDK calls ([`table`]).

pub mod item;
pub mod table;

pub use item::{
    ALLOWED, AllowItem, AutoItem, CTA_REASON, ItemType, ListedItem, ManualItem, REASON,
    RevocationItem, reason_for,
};
pub use table::{ActiveItems, GSI_NAME, RevocationTable, WriteSummary};
