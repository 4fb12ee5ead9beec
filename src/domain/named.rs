//! Closed sets of values stored as text (a delivery's status, a webhook's scope): an enum per
//! set with its text form, parsed once where the text enters (the store, the API's input).

/// Defines a `Copy` enum whose values are written as fixed texts: `ALL`, `as_str`, `Display`,
/// `FromStr` (its error names the set) and `Serialize` as the same texts.
macro_rules! named {
    (
        $(#[$meta:meta])*
        $name:ident, $error:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        /// A text that is none of the set's values.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("{} {:?} is not one of {}", $what, .0, $name::texts())]
        pub struct $error(pub String);

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The values' texts, comma-separated.
            pub fn texts() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $error(s.to_owned()))
            }
        }
    };
}

pub(crate) use named;
