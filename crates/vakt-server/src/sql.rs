//! The service's relational store behind one interface: embedded SQLite (a
//! file in the data folder: `vakt serve`, the default) or PostgreSQL (the
//! api nodes of a cluster, and every node that writes alerts there).
//!
//! The interface is the part of rusqlite's the service uses — connections,
//! statements, rows, transactions — so every query of the API, the cases,
//! the audit trail and the tokens is written once and runs on both.
//! Statements are written in the SQL both databases speak (upserts with
//! `ON CONFLICT`, `RETURNING`, `"user"` quoted) with `?N` placeholders.
//!
//! On PostgreSQL a statement's parameters are bound as literals, quoted by
//! [`literal`] (strings with their quotes doubled — the server runs with
//! standard-conforming strings, the default since 9.1 and checked at
//! connect — integers and reals as numbers, bytes as `bytea` hex) and sent
//! over the simple query protocol: PostgreSQL then infers each literal's
//! type from where it stands, as SQLite does with any parameter, so
//! `?1 IS NULL OR tenant = ?1` means the same on both. Rows come back as
//! text and are converted to the type the caller asks for.
//!
//! A transaction "immediate" (the service's read-modify-write steps: the
//! audit chain, cases, exceptions) takes SQLite's write lock at its start;
//! on PostgreSQL it takes one transaction-level advisory lock, so such
//! steps take turns across every node as they do across SQLite's
//! processes.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A result of the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query for one row found none.
    #[error("query returned no rows")]
    QueryReturnedNoRows,
    /// SQLite's error.
    #[error("{0}")]
    Sqlite(rusqlite::Error),
    /// PostgreSQL's error (with its SQLSTATE).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// A value that is not what the caller asked for, or a bad parameter.
    #[error("{0}")]
    Value(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Error::QueryReturnedNoRows,
            e => Error::Sqlite(e),
        }
    }
}

fn pg_err(e: postgres::Error) -> Error {
    Error::Postgres(match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    })
}

/// `Ok(None)` for a query that found no row.
pub trait OptionalExtension<T> {
    /// The row, or `None` when there was none.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A value of a column or a parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// An integer.
    Integer(i64),
    /// A real.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

/// What can be a parameter.
pub trait ToSql {
    /// The value bound.
    fn to_sql(&self) -> Result<Value>;
}

impl ToSql for Value {
    fn to_sql(&self) -> Result<Value> {
        Ok(self.clone())
    }
}
impl ToSql for str {
    fn to_sql(&self) -> Result<Value> {
        Ok(Value::Text(self.to_owned()))
    }
}
impl ToSql for String {
    fn to_sql(&self) -> Result<Value> {
        Ok(Value::Text(self.clone()))
    }
}
impl ToSql for [u8] {
    fn to_sql(&self) -> Result<Value> {
        Ok(Value::Blob(self.to_vec()))
    }
}
impl ToSql for Vec<u8> {
    fn to_sql(&self) -> Result<Value> {
        Ok(Value::Blob(self.clone()))
    }
}
impl ToSql for bool {
    fn to_sql(&self) -> Result<Value> {
        Ok(Value::Integer(i64::from(*self)))
    }
}
impl ToSql for f64 {
    fn to_sql(&self) -> Result<Value> {
        Ok(Value::Real(*self))
    }
}
macro_rules! int_to_sql {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Result<Value> {
                i64::try_from(*self)
                    .map(Value::Integer)
                    .map_err(|_| Error::Value(format!("{} does not fit a 64-bit integer", self)))
            }
        }
    )*};
}
int_to_sql!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);
impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Result<Value> {
        match self {
            Some(v) => v.to_sql(),
            None => Ok(Value::Null),
        }
    }
}
impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> Result<Value> {
        (**self).to_sql()
    }
}
impl<T: ToSql + ?Sized> ToSql for Box<T> {
    fn to_sql(&self) -> Result<Value> {
        (**self).to_sql()
    }
}
impl<T: ToSql + ?Sized> ToSql for Arc<T> {
    fn to_sql(&self) -> Result<Value> {
        (**self).to_sql()
    }
}

/// A statement's parameters.
pub trait Params {
    /// The values, in order (`?1` first).
    fn values(self) -> Result<Vec<Value>>;
}

impl Params for &[&dyn ToSql] {
    fn values(self) -> Result<Vec<Value>> {
        self.iter().map(|v| v.to_sql()).collect()
    }
}
impl Params for [&dyn ToSql; 0] {
    fn values(self) -> Result<Vec<Value>> {
        Ok(Vec::new())
    }
}
impl Params for () {
    fn values(self) -> Result<Vec<Value>> {
        Ok(Vec::new())
    }
}
macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: ToSql> Params for [T; $n] {
            fn values(self) -> Result<Vec<Value>> {
                self.iter().map(ToSql::to_sql).collect()
            }
        }
        impl<T: ToSql> Params for &[T; $n] {
            fn values(self) -> Result<Vec<Value>> {
                self.iter().map(ToSql::to_sql).collect()
            }
        }
    )*};
}
array_params!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
macro_rules! tuple_params {
    ($(($($t:ident $i:tt),+))*) => {$(
        impl<$($t: ToSql),+> Params for ($($t,)+) {
            fn values(self) -> Result<Vec<Value>> {
                Ok(vec![$(self.$i.to_sql()?),+])
            }
        }
    )*};
}
tuple_params! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
}

/// Parameters from an iterator.
pub struct ParamsFromIter<I>(I);

/// Parameters from an iterator of values.
pub fn params_from_iter<I>(iter: I) -> ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: ToSql,
{
    ParamsFromIter(iter)
}

impl<I> Params for ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: ToSql,
{
    fn values(self) -> Result<Vec<Value>> {
        self.0.into_iter().map(|v| v.to_sql()).collect()
    }
}

/// Parameters of mixed types: `params![a, b, c]`.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::sql::ToSql]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::sql::ToSql),+] as &[&dyn $crate::sql::ToSql]
    };
}
pub use crate::params;

/// What a column's value can be read as.
pub trait FromSql: Sized {
    /// The value as `Self`, or why not.
    fn from_sql(v: &Value) -> std::result::Result<Self, String>;
}

fn mismatch(v: &Value, want: &str) -> String {
    format!("a column holds {v:?}, not {want}")
}

impl FromSql for Value {
    fn from_sql(v: &Value) -> std::result::Result<Self, String> {
        Ok(v.clone())
    }
}
impl FromSql for String {
    fn from_sql(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            Value::Integer(i) => Ok(i.to_string()),
            Value::Real(r) => Ok(r.to_string()),
            Value::Blob(b) => String::from_utf8(b.clone()).map_err(|_| mismatch(v, "text")),
            Value::Null => Err(mismatch(v, "text")),
        }
    }
}
impl FromSql for i64 {
    fn from_sql(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Integer(i) => Ok(*i),
            Value::Text(s) => s.parse().map_err(|_| mismatch(v, "an integer")),
            _ => Err(mismatch(v, "an integer")),
        }
    }
}
macro_rules! int_from_sql {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_sql(v: &Value) -> std::result::Result<Self, String> {
                <$t>::try_from(i64::from_sql(v)?).map_err(|_| mismatch(v, stringify!($t)))
            }
        }
    )*};
}
int_from_sql!(i32, u32, u64, usize, u16, u8);
impl FromSql for f64 {
    fn from_sql(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Real(r) => Ok(*r),
            Value::Integer(i) => Ok(*i as f64),
            Value::Text(s) => s.parse().map_err(|_| mismatch(v, "a real")),
            _ => Err(mismatch(v, "a real")),
        }
    }
}
impl FromSql for bool {
    fn from_sql(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Integer(i) => Ok(*i != 0),
            Value::Text(s) if s == "t" || s == "true" => Ok(true),
            Value::Text(s) if s == "f" || s == "false" => Ok(false),
            Value::Text(s) => s
                .parse::<i64>()
                .map(|i| i != 0)
                .map_err(|_| mismatch(v, "a boolean")),
            _ => Err(mismatch(v, "a boolean")),
        }
    }
}
impl FromSql for Vec<u8> {
    fn from_sql(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            // PostgreSQL's text form of bytea.
            Value::Text(s) if s.starts_with("\\x") => {
                hex_decode(&s[2..]).ok_or_else(|| mismatch(v, "bytes"))
            }
            Value::Text(s) => Ok(s.as_bytes().to_vec()),
            _ => Err(mismatch(v, "bytes")),
        }
    }
}
impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_sql(v).map(Some),
        }
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A column by number or name.
pub trait RowIndex {
    /// Its number in the row.
    fn index(&self, names: &[String]) -> Result<usize>;
}
impl RowIndex for usize {
    fn index(&self, names: &[String]) -> Result<usize> {
        if *self < names.len() {
            Ok(*self)
        } else {
            Err(Error::Value(format!("no column {self}")))
        }
    }
}
impl RowIndex for &str {
    fn index(&self, names: &[String]) -> Result<usize> {
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(self))
            .ok_or_else(|| Error::Value(format!("no column {self}")))
    }
}

/// One row of a result.
#[derive(Debug, Clone)]
pub struct Row {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// A column's value as `T`.
    pub fn get<I: RowIndex, T: FromSql>(&self, i: I) -> Result<T> {
        let i = i.index(&self.names)?;
        let v = self.values.get(i).unwrap_or(&Value::Null);
        T::from_sql(v).map_err(|e| Error::Value(format!("column {}: {e}", self.names[i])))
    }
}

/// A result's rows, read one at a time.
pub struct Rows {
    rows: std::vec::IntoIter<Row>,
    current: Option<Row>,
}

impl Rows {
    /// The next row.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<&Row>> {
        self.current = self.rows.next();
        Ok(self.current.as_ref())
    }
}

/// How a transaction starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionBehavior {
    /// Locks when it first writes.
    Deferred,
    /// Takes the write lock at its start: read-modify-write steps take turns.
    Immediate,
}

/// One connection.
pub struct Connection {
    inner: Inner,
}

// One value per connection (a few per request at most): boxing the
// PostgreSQL client would save nothing that matters.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Lite(rusqlite::Connection),
    Pg {
        client: RefCell<Option<postgres::Client>>,
        pool: Arc<PgPool>,
        /// In a transaction: a broken connection is an error, not
        /// made again (the rest would run outside the transaction).
        in_tx: std::cell::Cell<bool>,
    },
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Lite(c) => write!(f, "Connection(SQLite {:?})", c.path()),
            Inner::Pg { .. } => write!(f, "Connection(PostgreSQL)"),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Inner::Pg { client, pool, .. } = &self.inner
            && let Some(c) = client.borrow_mut().take()
        {
            if c.is_closed() {
                drop_client(c);
            } else {
                pool.put(c);
            }
        }
    }
}

/// Drops a PostgreSQL client where that may block: the blocking client
/// closes its connection on its own runtime, which cannot be started on
/// an async thread (a server's routes are dropped on one when it stops).
fn drop_client(c: postgres::Client) {
    if tokio::runtime::Handle::try_current().is_ok() {
        let _ = std::thread::Builder::new()
            .name("vakt-pg-close".into())
            .spawn(move || drop(c));
    } else {
        drop(c);
    }
}

impl From<rusqlite::Connection> for Connection {
    fn from(c: rusqlite::Connection) -> Self {
        Connection {
            inner: Inner::Lite(c),
        }
    }
}

/// SQLite's value as ours.
fn lite_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef as R;
    match v {
        R::Null => Value::Null,
        R::Integer(i) => Value::Integer(i),
        R::Real(r) => Value::Real(r),
        R::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        R::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn lite_param(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Null => V::Null,
        Value::Integer(i) => V::Integer(*i),
        Value::Real(r) => V::Real(*r),
        Value::Text(t) => V::Text(t.clone()),
        Value::Blob(b) => V::Blob(b.clone()),
    }
}

/// A value as a PostgreSQL literal.
pub fn literal(v: &Value) -> Result<String> {
    Ok(match v {
        Value::Null => "NULL".to_owned(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) if r.is_finite() => format!("{r:?}"),
        Value::Real(r) => format!("'{r}'::float8"),
        Value::Text(t) => {
            if t.contains('\0') {
                return Err(Error::Value(
                    "text holding a NUL character cannot be stored".into(),
                ));
            }
            let mut s = String::with_capacity(t.len() + 2);
            s.push('\'');
            for c in t.chars() {
                if c == '\'' {
                    s.push('\'');
                }
                s.push(c);
            }
            s.push('\'');
            s
        }
        Value::Blob(b) => {
            let mut s = String::with_capacity(b.len() * 2 + 12);
            s.push_str("'\\x");
            for x in b {
                s.push_str(&format!("{x:02x}"));
            }
            s.push_str("'::bytea");
            s
        }
    })
}

/// A statement for PostgreSQL: `?N` (and `?`) replaced by the values'
/// literals, outside quoted strings and names; SQLite's `instr` as
/// PostgreSQL's `strpos` (same arguments).
pub fn pg_statement(sql: &str, values: &[Value]) -> Result<String> {
    let mut out = String::with_capacity(sql.len() + 16 * values.len());
    let mut next = 0usize;
    let mut quote: Option<char> = None;
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut n = String::new();
                while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                let idx = if n.is_empty() {
                    next += 1;
                    next
                } else {
                    let k: usize = n
                        .parse()
                        .map_err(|_| Error::Value(format!("bad placeholder ?{n}")))?;
                    next = next.max(k);
                    k
                };
                let v = idx
                    .checked_sub(1)
                    .and_then(|k| values.get(k))
                    .ok_or_else(|| Error::Value(format!("no value for parameter {idx}")))?;
                out.push_str(&literal(v)?);
            }
            'i' | 'I'
                if sql
                    .get(i..i + 6)
                    .is_some_and(|w| w.eq_ignore_ascii_case("instr("))
                    && !sql[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|p| p.is_alphanumeric() || p == '_') =>
            {
                out.push_str("strpos(");
                for _ in 0..5 {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// What a statement gave: column names, rows, rows changed.
struct Outcome {
    names: Arc<[String]>,
    rows: Vec<Vec<Value>>,
    changed: u64,
}

impl Connection {
    /// Is this PostgreSQL?
    pub fn is_postgres(&self) -> bool {
        matches!(self.inner, Inner::Pg { .. })
    }

    /// The SQLite connection (the embedded default), if this is one.
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Lite(c) => Some(c),
            Inner::Pg { .. } => None,
        }
    }

    fn run(&self, sql: &str, values: Vec<Value>, want_rows: bool) -> Result<Outcome> {
        match &self.inner {
            Inner::Lite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let names: Arc<[String]> =
                    st.column_names().iter().map(|s| s.to_string()).collect();
                let params = rusqlite::params_from_iter(values.iter().map(lite_param));
                if !want_rows && names.is_empty() {
                    let changed = st.execute(params)? as u64;
                    return Ok(Outcome {
                        names,
                        rows: Vec::new(),
                        changed,
                    });
                }
                let n = names.len();
                let mut rows = Vec::new();
                let mut q = st.query(params)?;
                while let Some(r) = q.next()? {
                    let mut row = Vec::with_capacity(n);
                    for i in 0..n {
                        row.push(lite_value(r.get_ref(i)?));
                    }
                    rows.push(row);
                }
                drop(q);
                Ok(Outcome {
                    names,
                    rows,
                    changed: c.changes(),
                })
            }
            Inner::Pg {
                client,
                pool,
                in_tx,
            } => {
                let text = pg_statement(sql, &values)?;
                let mut guard = client.borrow_mut();
                // A connection broken since (a database restart) is made
                // again, outside a transaction.
                if guard.as_ref().is_none_or(postgres::Client::is_closed) {
                    if in_tx.get() {
                        return Err(Error::Postgres(
                            "the connection broke during a transaction".into(),
                        ));
                    }
                    *guard = Some(pool.connect()?);
                }
                let c = guard
                    .as_mut()
                    .ok_or_else(|| Error::Postgres("the connection is closed".into()))?;
                let messages = match c.simple_query(&text) {
                    Ok(m) => m,
                    // The server went away under an idle connection (a
                    // restart): outside a transaction, once more on a new
                    // one (a server that is shutting down ends connections
                    // before it runs their next statement).
                    Err(e) if c.is_closed() && !in_tx.get() => {
                        tracing::info!(target: "vakt::sql", "PostgreSQL connection lost ({}); connecting again", pg_err(e));
                        *guard = Some(pool.connect()?);
                        guard
                            .as_mut()
                            .ok_or_else(|| Error::Postgres("the connection is closed".into()))?
                            .simple_query(&text)
                            .map_err(pg_err)?
                    }
                    Err(e) => return Err(pg_err(e)),
                };
                let mut names: Arc<[String]> = Arc::from(Vec::new());
                let mut rows = Vec::new();
                let mut changed = 0;
                for m in messages {
                    match m {
                        postgres::SimpleQueryMessage::RowDescription(cols) => {
                            names = cols.iter().map(|c| c.name().to_owned()).collect();
                        }
                        postgres::SimpleQueryMessage::Row(r) => {
                            if names.is_empty() {
                                names = r.columns().iter().map(|c| c.name().to_owned()).collect();
                            }
                            rows.push(
                                (0..r.len())
                                    .map(|i| {
                                        r.get(i).map_or(Value::Null, |s| Value::Text(s.to_owned()))
                                    })
                                    .collect(),
                            );
                        }
                        postgres::SimpleQueryMessage::CommandComplete(n) => changed = n,
                        _ => {}
                    }
                }
                Ok(Outcome {
                    names,
                    rows,
                    changed,
                })
            }
        }
    }

    fn rows(&self, sql: &str, params: impl Params) -> Result<Vec<Row>> {
        let o = self.run(sql, params.values()?, true)?;
        let names = o.names;
        Ok(o.rows
            .into_iter()
            .map(|values| Row {
                names: names.clone(),
                values,
            })
            .collect())
    }

    /// Runs a statement; how many rows it changed.
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        Ok(self.run(sql, params.values()?, false)?.changed as usize)
    }

    /// Runs statements, without parameters.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Lite(c) => Ok(c.execute_batch(sql)?),
            Inner::Pg { .. } => self.run(sql, Vec::new(), false).map(|_| ()),
        }
    }

    /// The first row of a query, mapped; `QueryReturnedNoRows` if none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        let rows = self.rows(sql, params)?;
        rows.first().map_or(Err(Error::QueryReturnedNoRows), f)
    }

    /// A statement to run (prepared on SQLite, cached).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            conn: self,
            sql: sql.to_owned(),
        })
    }

    /// Same as [`Connection::prepare`] (SQLite's statements are cached either way).
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare(sql)
    }

    /// SQLite's busy timeout (PostgreSQL waits for locks by itself).
    pub fn busy_timeout(&self, d: std::time::Duration) -> Result<()> {
        if let Inner::Lite(c) = &self.inner {
            c.busy_timeout(d)?;
        }
        Ok(())
    }

    /// A deferred transaction.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        self.transaction_with_behavior(TransactionBehavior::Deferred)
    }

    /// A transaction that starts as `b` says.
    pub fn transaction_with_behavior(&mut self, b: TransactionBehavior) -> Result<Transaction<'_>> {
        let begin = match (&self.inner, b) {
            (Inner::Lite(_), TransactionBehavior::Deferred) => "BEGIN DEFERRED",
            (Inner::Lite(_), TransactionBehavior::Immediate) => "BEGIN IMMEDIATE",
            (Inner::Pg { .. }, TransactionBehavior::Deferred) => "BEGIN",
            // One lock for the service's read-modify-write steps (an
            // arbitrary constant: "vakt" in ASCII).
            (Inner::Pg { .. }, TransactionBehavior::Immediate) => {
                "BEGIN; SELECT pg_advisory_xact_lock(1986095476)"
            }
        };
        self.execute_batch(begin)?;
        if let Inner::Pg { in_tx, .. } = &self.inner {
            in_tx.set(true);
        }
        Ok(Transaction {
            conn: self,
            done: false,
        })
    }
}

/// A transaction: rolled back unless committed.
pub struct Transaction<'c> {
    conn: &'c Connection,
    done: bool,
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Transaction<'_> {
    /// Commits.
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        let r = self.conn.execute_batch("COMMIT");
        self.ended();
        r
    }

    /// Rolls back.
    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        let r = self.conn.execute_batch("ROLLBACK");
        self.ended();
        r
    }

    fn ended(&self) {
        if let Inner::Pg { in_tx, .. } = &self.conn.inner {
            in_tx.set(false);
        }
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.ended();
        }
    }
}

/// A statement.
pub struct Statement<'c> {
    conn: &'c Connection,
    sql: String,
}

impl Statement<'_> {
    /// Runs it; rows changed.
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        self.conn.execute(&self.sql, params)
    }

    /// Its rows, mapped.
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let rows = self.conn.rows(&self.sql, params)?;
        Ok(rows.iter().map(&mut f).collect::<Vec<_>>().into_iter())
    }

    /// Its first row, mapped.
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        self.conn.query_row(&self.sql, params, f)
    }

    /// Its rows.
    pub fn query(&mut self, params: impl Params) -> Result<Rows> {
        Ok(Rows {
            rows: self.conn.rows(&self.sql, params)?.into_iter(),
            current: None,
        })
    }

    /// Does it give a row?
    pub fn exists(&mut self, params: impl Params) -> Result<bool> {
        Ok(!self.conn.rows(&self.sql, params)?.is_empty())
    }
}

/// PostgreSQL connections kept for the next request.
pub struct PgPool {
    conf: String,
    idle: Mutex<Vec<postgres::Client>>,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgPool")
    }
}

impl Drop for PgPool {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        for c in idle {
            drop_client(c);
        }
    }
}

impl PgPool {
    /// A pool for the connection string `conf` (connects on first use).
    pub fn new(conf: &str) -> PgPool {
        PgPool {
            conf: conf.to_owned(),
            idle: Mutex::default(),
        }
    }

    fn put(&self, c: postgres::Client) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < 8 {
            idle.push(c);
        } else {
            drop(idle);
            drop_client(c);
        }
    }

    /// A connection (an idle one, or a new one). Must not be called on an
    /// async thread (the client blocks); the API calls it from its
    /// blocking pool.
    pub fn get(self: &Arc<Self>) -> Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let client = match idle {
            Some(c) if !c.is_closed() => c,
            Some(c) => {
                drop_client(c);
                self.connect()?
            }
            None => self.connect()?,
        };
        Ok(Connection {
            inner: Inner::Pg {
                client: RefCell::new(Some(client)),
                pool: self.clone(),
                in_tx: std::cell::Cell::new(false),
            },
        })
    }

    fn connect(&self) -> Result<postgres::Client> {
        let mut c = postgres::Client::connect(&self.conf, postgres::NoTls).map_err(pg_err)?;
        // Literals are quoted for standard-conforming strings.
        let on = c
            .simple_query("SHOW standard_conforming_strings")
            .map_err(pg_err)?
            .into_iter()
            .any(|m| matches!(m, postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("on")));
        if !on {
            return Err(Error::Postgres(
                "the server must run with standard_conforming_strings = on".into(),
            ));
        }
        Ok(c)
    }
}

/// Where the service's relational data lives.
#[derive(Debug, Clone)]
pub enum Database {
    /// An SQLite file (the embedded default).
    Sqlite(PathBuf),
    /// A PostgreSQL database, and a local folder for what stays beside it
    /// (the audit trail's head).
    Postgres {
        /// The connections.
        pool: Arc<PgPool>,
        /// The node's own folder.
        dir: PathBuf,
    },
}

impl Database {
    /// A connection (no schema work: what every request opens).
    pub fn connect(&self) -> Result<Connection, crate::db::DbError> {
        match self {
            Database::Sqlite(p) => crate::db::connect(p),
            Database::Postgres { pool, .. } => pool.get().map_err(|e| crate::db::DbError {
                path: "PostgreSQL".into(),
                source: e,
            }),
        }
    }

    /// A connection, with the schema made (SQLite; a cluster's nodes
    /// apply its migrations to PostgreSQL before they serve).
    pub fn open(&self) -> Result<Connection, crate::db::DbError> {
        match self {
            Database::Sqlite(p) => crate::db::open(p),
            // The cluster's migrations made the schema (one node at a time).
            Database::Postgres { .. } => self.connect(),
        }
    }

    /// The file that anchors the audit trail's newest record.
    pub fn audit_head(&self) -> PathBuf {
        match self {
            Database::Sqlite(p) => crate::audit::head_path(p),
            Database::Postgres { dir, .. } => dir.join("audit.head"),
        }
    }

    /// The SQLite file, if that is where the data is.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(p) => Some(p),
            Database::Postgres { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_quoted_literals_outside_strings() {
        let v = [
            Value::Text("it's".into()),
            Value::Integer(7),
            Value::Null,
            Value::Blob(vec![0, 255]),
        ];
        let s = pg_statement(
            "SELECT '?1', \"a?\" FROM t WHERE a = ?1 AND b > ?2 AND (?3 IS NULL OR c = ?3) AND d = ?4 AND instr(x, ?1) > 0 AND xinstr(y)",
            &v,
        )
        .unwrap();
        assert_eq!(
            s,
            "SELECT '?1', \"a?\" FROM t WHERE a = 'it''s' AND b > 7 AND (NULL IS NULL OR c = NULL) AND d = '\\x00ff'::bytea AND strpos(x, 'it''s') > 0 AND xinstr(y)"
        );
        assert_eq!(
            pg_statement("SELECT ?, ?", &v[..2]).unwrap(),
            "SELECT 'it''s', 7"
        );
        assert!(pg_statement("SELECT ?5", &v).is_err());
        assert!(literal(&Value::Text("a\0b".into())).is_err());
    }

    #[test]
    fn sqlite_through_the_interface() {
        let mut c = Connection::from(rusqlite::Connection::open_in_memory().unwrap());
        c.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, b BLOB)")
            .unwrap();
        assert_eq!(
            c.execute(
                "INSERT INTO t (k, n, b) VALUES (?1, ?2, ?3)",
                params!["a", 1i64, vec![1u8, 2]]
            )
            .unwrap(),
            1
        );
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        tx.execute("INSERT INTO t (k, n) VALUES (?1, ?2)", ("b", 2i64))
            .unwrap();
        drop(tx); // rolled back
        let n: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        let none = c
            .query_row("SELECT n FROM t WHERE k = ?1", ["zz"], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .unwrap();
        assert_eq!(none, None);
        let mut st = c.prepare("SELECT k, n, b FROM t").unwrap();
        let rows: Vec<(String, i64, Vec<u8>)> = st
            .query_map([], |r| Ok((r.get("k")?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(rows, vec![("a".into(), 1, vec![1, 2])]);
    }

    #[test]
    fn text_from_postgres_is_read_as_the_type_asked_for() {
        assert_eq!(i64::from_sql(&Value::Text("42".into())), Ok(42));
        assert_eq!(bool::from_sql(&Value::Text("t".into())), Ok(true));
        assert_eq!(
            Vec::<u8>::from_sql(&Value::Text("\\x00ff".into())),
            Ok(vec![0, 255])
        );
        assert_eq!(Option::<i64>::from_sql(&Value::Null), Ok(None));
        assert!(i64::from_sql(&Value::Text("x".into())).is_err());
    }
}
