//! Docker's filters (`--filter key=value`, or the API's `filters` JSON): the values
//! given for each key a command takes. Values of one key are alternatives; what
//! different keys mean together is the command's to say.

use std::collections::BTreeMap;

/// A filter key or value Docker would refuse.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("bad format of filter (expected name=value): {0}")]
    Format(String),
    #[error("invalid filter '{0}'")]
    Key(String),
}

#[derive(Debug, Default, Clone)]
pub struct FilterSet(BTreeMap<String, Vec<String>>);

impl FilterSet {
    /// From `key=value` arguments, each key one of `known`.
    pub fn from_args(known: &[&str], args: &[String]) -> Result<FilterSet, FilterError> {
        let mut filters = FilterSet::default();
        for arg in args {
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| FilterError::Format(arg.clone()))?;
            filters.add(known, key, value)?;
        }
        Ok(filters)
    }

    pub fn add(&mut self, known: &[&str], key: &str, value: &str) -> Result<(), FilterError> {
        if !known.contains(&key) {
            return Err(FilterError::Key(key.to_string()));
        }
        self.0
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
        Ok(())
    }

    /// Each key given, with its values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}
