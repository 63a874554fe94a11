//! [`Choice`]: a setting that takes one of a fixed set of names (`--layout`, `--rules`,
//! `--format`, ...), so the CLI can list and parse them without the library knowing clap.

/// A value spelled by name in flags and the config file.
pub trait Choice: Sized + Copy + PartialEq + Send + Sync + 'static {
    /// Every value: its name, the value, and one line saying what it means (what `--help`
    /// prints beside the name).
    const CHOICES: &'static [(&'static str, Self, &'static str)];

    /// The value of a name.
    fn from_name(name: &str) -> Option<Self> {
        Self::CHOICES
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, v, _)| *v)
    }

    /// The name of this value.
    fn name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, v, _)| *v == self)
            .map_or("?", |(n, _, _)| n)
    }
}
