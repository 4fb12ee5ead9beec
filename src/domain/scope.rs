//! A webhook's or an event type's scope, stored as text in `herald.user_webhooks.scope` and
//! `herald.event_types.scope`.

use super::named::named;

named! {
    /// Who an event goes to.
    Scope, UnknownScope, "scope" {
        /// The owning user's own webhooks.
        Own = "own",
        /// The webhooks of platform managers.
        Platform = "platform",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_texts_round_trip_and_unknown_ones_name_the_set() {
        assert_eq!("own".parse::<Scope>(), Ok(Scope::Own));
        assert_eq!("platform".parse::<Scope>(), Ok(Scope::Platform));
        assert_eq!(Scope::Platform.to_string(), "platform");
        assert_eq!(
            "user".parse::<Scope>().unwrap_err().to_string(),
            "scope \"user\" is not one of own, platform"
        );
    }
}
