//! The CloudFront KeyValueStore revocation list, compiled from the revocation table: [`compile`]
//! is pure (the WAF compiler's selection to keys within the store's size budget, and the
//! difference with what the store holds), [`service`] makes the KeyValueStore calls, [`publish`] is `kvs publish`.

pub mod compile;
pub mod publish;
pub mod service;

pub use compile::{
    CompiledKeys, DEFAULT_KEY_PREFIX, Entry, KEYS_PER_UPDATE, KeyDiff, MAX_KEY_BYTES, STORE_BYTES,
    check_prefix,
};
pub use publish::{KvsReport, KvsTarget, publish_kvs};
pub use service::{KeyValueStore, PublishOutcome, PublishSettings, StoreState};
