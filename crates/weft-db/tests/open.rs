//! Opening databases: data directories, in-memory databases and bad URLs (SQLite only; the
//! PostgreSQL reopen case is in db.rs).

use weft_db::{Backend, Db, DbError};

#[tokio::test]
async fn open_dir_creates_the_directory_and_reopens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested dir #1").join("data");
    let db = Db::open_dir(&dir).await.unwrap();
    assert_eq!(db.backend(), Backend::Sqlite);
    assert!(dir.join("weft.db").is_file());
    let (org, created) = db.ensure_organization("vendor", 1).await.unwrap();
    assert!(created);
    drop(db);
    // Migrations are idempotent: opening the same file again keeps the data.
    let again = Db::open_dir(&dir).await.unwrap();
    let (same, created) = again.ensure_organization("vendor", 2).await.unwrap();
    assert_eq!((same, created), (org, false));
    let journal: String = {
        let url = format!("sqlite://{}?mode=ro", dir.join("weft.db").display().to_string().replace('#', "%23"));
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&pool).await.unwrap()
    };
    assert_eq!(journal, "wal");
}

#[tokio::test]
async fn in_memory_databases_are_private_and_persist_across_calls() {
    let a = Db::open("sqlite::memory:").await.unwrap();
    let b = Db::open("sqlite::memory:").await.unwrap();
    let (org, _) = a.ensure_organization("vendor", 1).await.unwrap();
    for _ in 0..3 {
        assert_eq!(a.get_organization(&org.id).await.unwrap(), Some(org.clone()));
    }
    assert_eq!(b.get_organization(&org.id).await.unwrap(), None);
}

#[tokio::test]
async fn unsupported_urls_are_refused_by_name() {
    let err = Db::open("mysql://root:secret@localhost/weft").await.unwrap_err();
    assert!(matches!(&err, DbError::Invalid(m) if m.contains("mysql:") && !m.contains("secret")), "{err}");
}
