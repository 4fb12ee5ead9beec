//! The domain's closed sets of values ([`DeliveryStatus`], [`Scope`]) as the `text` columns
//! that hold them: read with `try_get`, passed as parameters, as any other column type.

use std::error::Error;

use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

use crate::domain::{scope::Scope, status::DeliveryStatus};

macro_rules! text_column {
    ($($name:ty),+) => {$(
        impl<'a> FromSql<'a> for $name {
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
                Ok(<&str as FromSql>::from_sql(ty, raw)?.parse()?)
            }

            fn accepts(ty: &Type) -> bool {
                <&str as FromSql>::accepts(ty)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
                self.as_str().to_sql(ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                <&str as ToSql>::accepts(ty)
            }

            to_sql_checked!();
        }
    )+};
}

text_column!(DeliveryStatus, Scope);
