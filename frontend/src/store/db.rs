//! The store's metadata: one SQLite database, `berth.db`, shared by every `berth`
//! process on the same root. Writers take the database's write lock up front (`BEGIN
//! IMMEDIATE`) so that two commands never interleave their changes, and readers see a
//! consistent snapshot (WAL). Nothing in here is a cache of the file tree: a row is
//! written only once what it names is complete on disk, and removed before it is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("store database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("store database {path} has schema version {found}; this berth knows up to {known}: upgrade berth")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
}

/// Each entry takes the schema from the version before it to its own (its index + 1).
/// Never edit a shipped entry: add one.
const MIGRATIONS: &[&str] = &[
    // 1: images, their names, their layers.
    "
    CREATE TABLE images (
        id TEXT PRIMARY KEY,              -- the config's digest
        manifest_digest TEXT NOT NULL,    -- a manifest for it, kept in the blob store
        manifest_media_type TEXT NOT NULL,
        created TEXT,                     -- the config's `created`, RFC 3339
        size INTEGER NOT NULL,            -- bytes of its unpacked layers
        added_at INTEGER NOT NULL         -- unix seconds: when this store got it
    );
    CREATE TABLE tags (
        name TEXT PRIMARY KEY,            -- docker.io/library/busybox:latest
        image_id TEXT NOT NULL REFERENCES images(id)
    );
    CREATE INDEX tags_image ON tags(image_id);
    CREATE TABLE repo_digests (
        name TEXT NOT NULL,               -- docker.io/library/busybox
        digest TEXT NOT NULL,             -- of the manifest (or index) it was pulled by
        image_id TEXT NOT NULL REFERENCES images(id),
        PRIMARY KEY (name, digest)
    );
    CREATE INDEX repo_digests_image ON repo_digests(image_id);
    CREATE TABLE layers (
        id INTEGER PRIMARY KEY AUTOINCREMENT, -- names its directory, in base 36: short
                                              -- enough for 128 layers in one mount
        diff_id TEXT NOT NULL UNIQUE,      -- sha256 of the uncompressed tar
        size INTEGER NOT NULL
    );
    CREATE TABLE image_layers (
        image_id TEXT NOT NULL REFERENCES images(id),
        position INTEGER NOT NULL,         -- 0 is the base layer
        layer_id INTEGER NOT NULL REFERENCES layers(id),
        blob_digest TEXT NOT NULL,         -- the layer as the manifest has it
        blob_media_type TEXT NOT NULL,
        blob_size INTEGER NOT NULL,
        PRIMARY KEY (image_id, position)
    );
    CREATE INDEX image_layers_layer ON image_layers(layer_id);
    -- What uses an image; the container records of the front-end fill it.
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        image_id TEXT NOT NULL
    );
    ",
    // 2: what the front-end needs of a container; the rest is in its directory.
    "
    ALTER TABLE containers ADD COLUMN created TEXT NOT NULL DEFAULT '';  -- RFC 3339
    ALTER TABLE containers ADD COLUMN image_name TEXT NOT NULL DEFAULT ''; -- as the user gave it
    ALTER TABLE containers ADD COLUMN config TEXT NOT NULL DEFAULT '{}';   -- Docker's Config, JSON
    ALTER TABLE containers ADD COLUMN host_config TEXT NOT NULL DEFAULT '{}'; -- Docker's HostConfig
    ALTER TABLE containers ADD COLUMN path TEXT NOT NULL DEFAULT '';     -- the process, as Docker's Path
    ALTER TABLE containers ADD COLUMN args TEXT NOT NULL DEFAULT '[]';   -- and Args, JSON
    -- Set by start, cleared by nothing: Docker keeps StartedAt after an exit.
    ALTER TABLE containers ADD COLUMN started_at TEXT NOT NULL DEFAULT '';
    -- 0 until it is made whole: a row still 0 after its creator died is a leftover.
    ALTER TABLE containers ADD COLUMN complete INTEGER NOT NULL DEFAULT 0;
    ",
    // 3: networks, the containers' places on them, and published ports (networks.rs).
    "
    CREATE TABLE networks (
        id TEXT PRIMARY KEY,              -- 64 hex digits, as Docker's
        name TEXT NOT NULL UNIQUE,
        driver TEXT NOT NULL,             -- bridge
        bridge TEXT NOT NULL UNIQUE,      -- the interface: berth0, br-<12 hex of id>
        subnet TEXT NOT NULL,             -- 172.18.0.0/16
        gateway TEXT NOT NULL,            -- 172.18.0.1
        internal INTEGER NOT NULL DEFAULT 0,
        ipv6 INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL,            -- RFC 3339 with nanoseconds
        labels TEXT NOT NULL DEFAULT '{}',  -- JSON object
        options TEXT NOT NULL DEFAULT '{}'  -- JSON object, Docker's Options
    );
    -- A container's place on a network. No cascade from containers: the network
    -- must be released (interfaces, rules) before the container's row goes.
    CREATE TABLE endpoints (
        container_id TEXT NOT NULL REFERENCES containers(id),
        network_id TEXT NOT NULL REFERENCES networks(id),
        endpoint_id TEXT NOT NULL UNIQUE, -- Docker's EndpointID, 64 hex digits
        address TEXT NOT NULL,            -- 172.18.0.2
        mac TEXT NOT NULL,                -- 02:42:ac:12:00:02
        aliases TEXT NOT NULL DEFAULT '[]', -- JSON array
        host_interface TEXT NOT NULL UNIQUE, -- the host end of its veth pair
        PRIMARY KEY (container_id, network_id),
        UNIQUE (network_id, address)
    );
    CREATE INDEX endpoints_network ON endpoints(network_id);
    CREATE TABLE published_ports (
        container_id TEXT NOT NULL REFERENCES containers(id),
        protocol TEXT NOT NULL,           -- tcp, udp
        host_ip TEXT NOT NULL,            -- 0.0.0.0: every address of the host
        host_port INTEGER NOT NULL,
        container_port INTEGER NOT NULL,
        UNIQUE (protocol, host_ip, host_port)
    );
    CREATE INDEX published_ports_container ON published_ports(container_id);
    -- A port on every address is also a port on each one: 0.0.0.0:80 and
    -- 127.0.0.1:80 cannot both be published.
    CREATE TRIGGER published_ports_all_addresses BEFORE INSERT ON published_ports
    WHEN EXISTS (
        SELECT 1 FROM published_ports
        WHERE protocol = NEW.protocol AND host_port = NEW.host_port
          AND (host_ip = '0.0.0.0' OR NEW.host_ip = '0.0.0.0')
    )
    BEGIN
        SELECT RAISE(ABORT, 'host port already published');
    END;
    ",
];

/// An open store database.
pub struct Db {
    path: PathBuf,
    conn: Connection,
}

impl Db {
    /// Opens (creating and migrating as needed) `root/berth.db`.
    pub fn open(root: &Path) -> Result<Db, DbError> {
        let path = root.join("berth.db");
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| DbError::Sqlite {
            path: path.clone(),
            source,
        })?;
        let mut db = Db { path, conn };
        db.configure()?;
        db.migrate()?;
        Ok(db)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Turns SQLite's errors into ours, naming this database; owns what it needs, so it
    /// can be used while a transaction borrows the connection.
    pub fn errors(&self) -> impl Fn(rusqlite::Error) -> DbError + 'static {
        let path = self.path.clone();
        move |source| DbError::Sqlite {
            path: path.clone(),
            source,
        }
    }

    pub fn error(&self, source: rusqlite::Error) -> DbError {
        DbError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn configure(&mut self) -> Result<(), DbError> {
        // A second berth holding the write lock makes us wait, not fail: pulls of big
        // images register in one short transaction, so a minute is generous.
        self.conn
            .busy_timeout(Duration::from_secs(60))
            .map_err(|e| self.error(e))?;
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(|e| self.error(e))?;
        // Each berth command is a process of its own and usually the store's only
        // connection: by default its close would checkpoint (two fsyncs) and delete the
        // WAL, for the next command to make again. SQLite's own checkpoints, every
        // thousand pages written, are enough.
        self.conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map(drop)
            .map_err(|e| self.error(e))
    }

    fn migrate(&mut self) -> Result<(), DbError> {
        let path = self.path.clone();
        let known = MIGRATIONS.len() as i64;
        // Up to date, as it is but once: no write lock taken, which every opening
        // would otherwise wait for behind whoever writes.
        let current: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| self.error(e))?;
        if current == known {
            return Ok(());
        }
        let tx = self.write()?;
        let found: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|source| DbError::Sqlite {
                path: path.clone(),
                source,
            })?;
        if found > known {
            return Err(DbError::TooNew { path, found, known });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute_batch(sql)
                .and_then(|()| tx.pragma_update(None, "user_version", index as i64 + 1))
                .map_err(|source| DbError::Sqlite {
                    path: path.clone(),
                    source,
                })?;
        }
        tx.commit()
            .map_err(|source| DbError::Sqlite { path, source })
    }

    /// A transaction holding the write lock from its start, so what it read stays true
    /// until it commits.
    pub fn write(&mut self) -> Result<Transaction<'_>, DbError> {
        let path = self.path.clone();
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| DbError::Sqlite { path, source })
    }

    /// For reads: every query sees the database as one consistent snapshot only inside
    /// a transaction; single statements are consistent on their own.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_is_migrated_to_the_latest_schema() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let version: i64 = db
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        drop(db);
        // Opening again is a no-op, not a second migration.
        Db::open(dir.path()).unwrap();
    }

    #[test]
    fn a_store_from_a_newer_berth_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        db.conn().pragma_update(None, "user_version", 99).unwrap();
        drop(db);
        let err = Db::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("berth.db"), "{err}");
        assert!(err.contains("schema version 99"), "{err}");
    }
}
