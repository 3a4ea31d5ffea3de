//! Container rows: identity, name, image, and Docker's Config and HostConfig as JSON.
//! What a container is doing is not stored here: it is read from its shim's files and
//! the runtime when asked, so it cannot go stale.

use rusqlite::{params, OptionalExtension, Row};

use super::{Store, StoreError};

/// A container's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRow {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub image_name: String,
    pub created: String,
    pub config: String,
    pub host_config: String,
    pub path: String,
    pub args: String,
    pub started_at: String,
    pub complete: bool,
}

const COLUMNS: &str =
    "id, name, image_id, image_name, created, config, host_config, path, args, started_at, complete";

fn from_row(row: &Row<'_>) -> rusqlite::Result<ContainerRow> {
    Ok(ContainerRow {
        id: row.get(0)?,
        name: row.get(1)?,
        image_id: row.get(2)?,
        image_name: row.get(3)?,
        created: row.get(4)?,
        config: row.get(5)?,
        host_config: row.get(6)?,
        path: row.get(7)?,
        args: row.get(8)?,
        started_at: row.get(9)?,
        complete: row.get::<_, i64>(10)? != 0,
    })
}

/// What a reference to a container (an id, a prefix of one, or a name) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Box<ContainerRow>),
    NotFound,
    /// A prefix of more than one id.
    Ambiguous,
}

impl Store {
    /// Records a new container (not yet complete). `Ok(false)`: the name is taken.
    pub fn insert_container(&mut self, row: &ContainerRow) -> Result<bool, StoreError> {
        let sql = self.db.errors();
        let tx = self.db.write()?;
        let taken: Option<String> = tx
            .query_row(
                "SELECT id FROM containers WHERE name = ?1",
                [&row.name],
                |r| r.get(0),
            )
            .optional()
            .map_err(&sql)?;
        if taken.is_some() {
            return Ok(false);
        }
        tx.execute(
            &format!("INSERT INTO containers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                row.id,
                row.name,
                row.image_id,
                row.image_name,
                row.created,
                row.config,
                row.host_config,
                row.path,
                row.args,
                row.started_at,
                row.complete as i64
            ],
        )
        .map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(true)
    }

    /// Marks container `id` whole: its directory and bundle are made.
    pub fn complete_container(&mut self, id: &str) -> Result<(), StoreError> {
        self.update_container(id, "complete = 1", None)
    }

    pub fn set_container_started(&mut self, id: &str, started_at: &str) -> Result<(), StoreError> {
        self.update_container(id, "started_at = ?2", Some(started_at))
    }

    /// Renames container `id`. `Ok(false)`: `name` is taken.
    pub fn rename_container(&mut self, id: &str, name: &str) -> Result<bool, StoreError> {
        let sql = self.db.errors();
        let tx = self.db.write()?;
        let taken: Option<String> = tx
            .query_row("SELECT id FROM containers WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(&sql)?;
        if taken.is_some_and(|other| other != id) {
            return Ok(false);
        }
        tx.execute(
            "UPDATE containers SET name = ?2 WHERE id = ?1",
            params![id, name],
        )
        .map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(true)
    }

    fn update_container(
        &mut self,
        id: &str,
        set: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = self.db.errors();
        let conn = self.db.conn();
        let statement = format!("UPDATE containers SET {set} WHERE id = ?1");
        match value {
            Some(value) => conn.execute(&statement, params![id, value]),
            None => conn.execute(&statement, params![id]),
        }
        .map_err(&sql)?;
        Ok(())
    }

    /// Forgets container `id`; whether it was there.
    pub fn remove_container(&mut self, id: &str) -> Result<bool, StoreError> {
        let sql = self.db.errors();
        let removed = self
            .db
            .conn()
            .execute("DELETE FROM containers WHERE id = ?1", [id])
            .map_err(&sql)?;
        Ok(removed > 0)
    }

    pub fn container(&self, id: &str) -> Result<Option<ContainerRow>, StoreError> {
        let sql = self.db.errors();
        self.db
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM containers WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()
            .map_err(|e| sql(e).into())
    }

    /// Every container, newest first (`ps`'s order).
    pub fn containers(&self) -> Result<Vec<ContainerRow>, StoreError> {
        let sql = self.db.errors();
        let mut stmt = self
            .db
            .conn()
            .prepare(&format!(
                "SELECT {COLUMNS} FROM containers ORDER BY created DESC, rowid DESC"
            ))
            .map_err(&sql)?;
        let rows = stmt.query_map([], from_row).map_err(&sql)?;
        rows.collect::<Result<_, _>>().map_err(|e| sql(e).into())
    }

    /// A container by full id, name (with or without Docker's leading `/`), or unique
    /// id prefix, in Docker's order of preference.
    pub fn find_container(&self, reference: &str) -> Result<Lookup, StoreError> {
        let sql = self.db.errors();
        let conn = self.db.conn();
        let by = |column: &str, value: &str| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM containers WHERE {column} = ?1"),
                [value],
                from_row,
            )
            .optional()
        };
        if let Some(row) = by("id", reference).map_err(&sql)? {
            return Ok(Lookup::Found(Box::new(row)));
        }
        let name = reference.strip_prefix('/').unwrap_or(reference);
        if let Some(row) = by("name", name).map_err(&sql)? {
            return Ok(Lookup::Found(Box::new(row)));
        }
        if reference.is_empty() || !reference.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Lookup::NotFound);
        }
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM containers WHERE substr(id, 1, ?2) = ?1 LIMIT 2"
            ))
            .map_err(&sql)?;
        let mut found: Vec<ContainerRow> = stmt
            .query_map(
                params![reference.to_ascii_lowercase(), reference.len() as i64],
                from_row,
            )
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        Ok(match found.len() {
            0 => Lookup::NotFound,
            1 => Lookup::Found(Box::new(found.remove(0))),
            _ => Lookup::Ambiguous,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str) -> ContainerRow {
        ContainerRow {
            id: id.to_string(),
            name: name.to_string(),
            image_id: "sha256:00".to_string(),
            image_name: "busybox".to_string(),
            created: "2026-12-06T00:00:00Z".to_string(),
            config: "{}".to_string(),
            host_config: "{}".to_string(),
            path: "sh".to_string(),
            args: "[]".to_string(),
            started_at: String::new(),
            complete: false,
        }
    }

    #[test]
    fn names_are_unique_and_lookups_follow_dockers_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        assert!(store.insert_container(&row("abc1", "web")).unwrap());
        assert!(store.insert_container(&row("abc2", "db")).unwrap());
        assert!(!store.insert_container(&row("ffff", "web")).unwrap());
        fn found(store: &Store, r: &str) -> Option<String> {
            match store.find_container(r).unwrap() {
                Lookup::Found(row) => Some(row.id),
                _ => None,
            }
        }
        assert_eq!(found(&store, "web").as_deref(), Some("abc1"));
        assert_eq!(found(&store, "/db").as_deref(), Some("abc2"));
        assert_eq!(found(&store, "abc2").as_deref(), Some("abc2"));
        assert_eq!(found(&store, "ABC1").as_deref(), Some("abc1"));
        assert_eq!(store.find_container("abc").unwrap(), Lookup::Ambiguous);
        assert_eq!(store.find_container("nope").unwrap(), Lookup::NotFound);
        assert!(!store.rename_container("abc1", "db").unwrap());
        assert!(store.rename_container("abc1", "www").unwrap());
        assert_eq!(found(&store, "www").as_deref(), Some("abc1"));
        store.complete_container("abc1").unwrap();
        assert!(store.container("abc1").unwrap().unwrap().complete);
        assert!(store.remove_container("abc1").unwrap());
        assert_eq!(store.containers().unwrap().len(), 1);
    }
}
