//! TEMPORARY stub (replaced by the kernel layer).
use std::path::Path;
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NetError(pub String);
pub fn create_netns(_path: &Path) -> Result<(), NetError> {
    Ok(())
}
pub fn bind_netns(_source: &Path, _path: &Path) -> Result<(), NetError> {
    Ok(())
}
pub fn remove_netns(_path: &Path) -> Result<(), NetError> {
    Ok(())
}
