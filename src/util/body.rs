//! Reading an HTTP answer with a cap: whatever a server (or someone in its place) sends, no more
//! than the cap is ever held in memory.

/// Why an answer's body was not read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("the answer is larger than {} KiB", .0 / 1024)]
    TooLarge(usize),
    #[error("reading the answer failed: {0}")]
    Read(#[from] reqwest::Error),
}

/// The whole body of `response`, or an error as soon as it grows past `max` bytes.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(BodyError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
