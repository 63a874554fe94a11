//! Where the logs are and which objects a window needs: [`location`] (a local path or an S3
//! prefix), [`layout`] (which keys hold which hours, so a window lists only those), listed by
//! [`local`] or [`s3`]; [`allowed`] is what a cluster process may read.

pub mod allowed;
pub mod layout;
pub mod local;
pub mod location;
pub mod s3;

pub use allowed::{AllowedLocations, key_in_folder, resolve_path};
pub use layout::{HourRange, Layout};
pub use location::{ListOptions, Listing, LogLocation, LogObject, select_all};
