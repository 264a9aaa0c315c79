//! Values crossing the boundary between Rust and either database.
//!
//! SQLite's five storage classes are the common model: PostgreSQL columns are
//! read into it (integers, booleans and whole numerics as `Integer`, floats as
//! `Real`, text and JSON as `Text`, `bytea` as `Blob`) and parameters are written
//! out of it, converted to whatever type PostgreSQL inferred for the placeholder.

use super::Error;

/// A borrowed value: what a parameter binds and what a column reads as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// An owned value, for dynamic parameter lists and untyped reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl ValueRef<'_> {
    pub fn to_owned(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(s) => Value::Text(s.to_string()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ValueRef::Null => "NULL",
            ValueRef::Integer(_) => "integer",
            ValueRef::Real(_) => "real",
            ValueRef::Text(_) => "text",
            ValueRef::Blob(_) => "blob",
        }
    }
}

/// Something that binds as a statement parameter.
pub trait ToSql {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error>;
}

/// Something a column can be read as.
pub trait FromSql: Sized {
    fn column_result(v: ValueRef<'_>) -> Result<Self, FromSqlError>;
}

/// Why a column could not be read as the asked-for type; the caller adds the column.
#[derive(Debug, Clone)]
pub struct FromSqlError(pub String);

impl FromSqlError {
    pub fn wrong(expected: &str, got: ValueRef<'_>) -> FromSqlError {
        FromSqlError(format!("expected {expected}, found {}", got.kind()))
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        (**self).to_sql()
    }
}

impl<T: ToSql + ?Sized> ToSql for Box<T> {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        (**self).to_sql()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        match self {
            Some(v) => v.to_sql(),
            None => Ok(ValueRef::Null),
        }
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(self.as_ref())
    }
}

impl ToSql for ValueRef<'_> {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(*self)
    }
}

impl ToSql for str {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Text(self))
    }
}

impl ToSql for String {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Text(self))
    }
}

impl ToSql for [u8] {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Blob(self))
    }
}

impl<const N: usize> ToSql for [u8; N] {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Blob(self))
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Blob(self))
    }
}

impl ToSql for bool {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Integer(i64::from(*self)))
    }
}

impl ToSql for f64 {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Real(*self))
    }
}

impl ToSql for f32 {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Real(f64::from(*self)))
    }
}

macro_rules! int_to_sql {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
                i64::try_from(*self)
                    .map(ValueRef::Integer)
                    .map_err(|_| Error::Param(format!("{} does not fit a 64-bit integer", self)))
            }
        }
        impl FromSql for $t {
            fn column_result(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
                match v {
                    ValueRef::Integer(i) => <$t>::try_from(i)
                        .map_err(|_| FromSqlError(format!("{i} is out of range for {}", stringify!($t)))),
                    other => Err(FromSqlError::wrong("integer", other)),
                }
            }
        }
    )*};
}
int_to_sql!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl FromSql for bool {
    fn column_result(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Integer(i) => Ok(i != 0),
            other => Err(FromSqlError::wrong("integer (boolean)", other)),
        }
    }
}

impl FromSql for f64 {
    fn column_result(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Real(f) => Ok(f),
            // SQLite hands back whole REAL values stored in integer form as integers.
            ValueRef::Integer(i) => Ok(i as f64),
            other => Err(FromSqlError::wrong("real", other)),
        }
    }
}

impl FromSql for f32 {
    fn column_result(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        f64::column_result(v).map(|f| f as f32)
    }
}

impl FromSql for String {
    fn column_result(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Text(s) => Ok(s.to_string()),
            other => Err(FromSqlError::wrong("text", other)),
        }
    }
}

impl FromSql for Vec<u8> {
    fn column_result(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(s) => Ok(s.as_bytes().to_vec()),
            other => Err(FromSqlError::wrong("blob", other)),
        }
    }
}

impl<const N: usize> FromSql for [u8; N] {
    fn column_result(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Blob(b) => b
                .try_into()
                .map_err(|_| FromSqlError(format!("expected {N} bytes, found {}", b.len()))),
            other => Err(FromSqlError::wrong("blob", other)),
        }
    }
}

impl FromSql for Value {
    fn column_result(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        Ok(v.to_owned())
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn column_result(v: ValueRef<'_>) -> Result<Self, FromSqlError> {
        match v {
            ValueRef::Null => Ok(None),
            other => T::column_result(other).map(Some),
        }
    }
}
