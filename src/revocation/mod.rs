//! The DynamoDB revocation table (`shared/docs/REVOCATION.md`): the items as plain data
//! ([`item`]) apart from the SDK calls ([`table`]).

pub mod item;
pub mod table;

pub use item::{
    ALLOWED, AllowItem, AutoItem, ItemType, ListedItem, ManualItem, REASON, RevocationItem,
};
pub use table::{ActiveItems, GSI_NAME, RevocationTable, WriteSummary};
