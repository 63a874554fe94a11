//! Options defined once: each group of flags is one struct that is both its clap arguments
//! and its config file section ([`option_group!`]), and [`Merge`] puts a group's flags over
//! the file's values field by field, remembering which came from the file ([`Origins`]) so
//! that an error names the setting as the user wrote it.

use std::collections::BTreeSet;

/// A group of options: clap arguments and a `[section]` of the config file at once.
#[cfg_attr(not(test), allow(dead_code))]
pub trait OptionGroup: Sized {
    /// Its section in the config file.
    const SECTION: &'static str;

    /// Its keys, as the config file and the clap argument ids spell them.
    fn keys() -> Vec<String>;

    /// These flags over `file`'s values: a flag given wins, else the file's value; the keys
    /// taken from the file are noted in `origins`.
    fn merge(&self, file: &Self, origins: &mut Origins) -> Self;
}

/// One field's merge: the flag's value when given, else the file's, and whether the file's
/// was taken.
pub trait Merge: Sized {
    /// `(value, taken from the file)`.
    fn merge(flag: &Self, file: &Self) -> (Self, bool);
}

impl<T: Clone> Merge for Option<T> {
    fn merge(flag: &Self, file: &Self) -> (Self, bool) {
        match flag {
            Some(_) => (flag.clone(), false),
            None => (file.clone(), file.is_some()),
        }
    }
}

impl Merge for bool {
    /// A switch can only be turned on: by the flag, or by the file.
    fn merge(flag: &Self, file: &Self) -> (Self, bool) {
        (*flag || *file, !*flag && *file)
    }
}

impl<T: Clone> Merge for Vec<T> {
    fn merge(flag: &Self, file: &Self) -> (Self, bool) {
        if flag.is_empty() {
            (file.clone(), !file.is_empty())
        } else {
            (flag.clone(), false)
        }
    }
}

/// The settings whose values came from the config file, as `(section, key)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins {
    from_file: BTreeSet<(&'static str, String)>,
}

impl Origins {
    /// Notes that `[section] key` came from the file.
    pub fn note(&mut self, section: &'static str, key: &str) {
        self.from_file.insert((section, key.to_string()));
    }

    /// The section of `key` when its value came from the file.
    pub fn section_of(&self, key: &str) -> Option<&'static str> {
        self.from_file
            .iter()
            .find(|(_, k)| k == key)
            .map(|(section, _)| *section)
    }
}

/// Defines an option group: the struct (clap `Args` and serde `Deserialize` with
/// `deny_unknown_fields`, every field optional) and its [`OptionGroup`] impl.
macro_rules! option_group {
    (
        $(#[$meta:meta])*
        pub struct $name:ident in $section:literal {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, clap::Args, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $( $(#[$fmeta])* #[serde(default)] pub $field: $ty, )*
        }

        impl $crate::cli::options::OptionGroup for $name {
            const SECTION: &'static str = $section;

            fn keys() -> Vec<String> {
                vec![$(stringify!($field).to_string()),*]
            }

            fn merge(
                &self,
                file: &Self,
                origins: &mut $crate::cli::options::Origins,
            ) -> Self {
                Self {
                    $( $field: {
                        let (value, from_file) =
                            $crate::cli::options::Merge::merge(&self.$field, &file.$field);
                        if from_file {
                            origins.note($section, stringify!($field));
                        }
                        value
                    }, )*
                }
            }
        }
    };
}

pub(crate) use option_group;
