//! Where a configuration is read from: a local file, or an S3 object (`s3://bucket/key`).
//! The first read takes the whole text; later reads are conditional: S3 answers a GET with
//! `If-None-Match: <ETag>` by 304 and no body when the object is unchanged, so a check
//! costs one small request. With `AWS_ENDPOINT_URL` set (moto, LocalStack), S3 is
//! addressed path-style, as emulators need.

use std::fmt;
use std::path::PathBuf;

use sha2::Digest;
use thiserror::Error;

/// The largest configuration read, in bytes (a hundred bots and a thousand rules fit).
pub const MAX_CONFIG_BYTES: usize = 4 * 1024 * 1024;

/// Where a configuration is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigUri {
    /// A local file.
    File(PathBuf),
    /// An S3 object.
    S3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
    },
}

impl ConfigUri {
    /// `s3://bucket/key`, or a local path.
    pub fn parse(s: &str) -> Result<Self, SourceError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(SourceError::Uri("empty: give s3://bucket/key or a file path".into()));
        }
        let Some(rest) = s.strip_prefix("s3://") else {
            if s.contains("://") {
                return Err(SourceError::Uri(format!(
                    "`{s}`: only s3://bucket/key and local paths are read"
                )));
            }
            return Ok(Self::File(PathBuf::from(s)));
        };
        match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() && !key.ends_with('/') => Ok(Self::S3 {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            }),
            _ => Err(SourceError::Uri(format!(
                "`{s}`: expected s3://bucket/key (for example s3://my-botgate-config/botgate.yaml)"
            ))),
        }
    }
}

impl fmt::Display for ConfigUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// Why a configuration could not be read.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The URI is not one botgate reads.
    #[error("configuration URI {0}")]
    Uri(String),
    /// There is no such file or object (yet).
    #[error("no configuration at {0} (push one with `botgate config push`)")]
    Missing(String),
    /// The file or object could not be read.
    #[error("cannot read the configuration {uri}: {why}")]
    Read {
        /// The URI.
        uri: String,
        /// What went wrong.
        why: String,
    },
    /// It is larger than [`MAX_CONFIG_BYTES`] or not UTF-8.
    #[error("the configuration {uri} {why}")]
    Content {
        /// The URI.
        uri: String,
        /// What is wrong with it.
        why: String,
    },
}

/// A configuration's text and the tag of its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The YAML.
    pub text: String,
    /// S3's ETag, or a hash of the file's contents.
    pub etag: String,
    /// S3's version id (versioned buckets).
    pub version: Option<String>,
}

/// What a conditional read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// The same version as the tag given.
    Unchanged,
    /// Another version.
    Changed(Fetched),
}

/// Reads one configuration URI.
#[derive(Debug)]
pub struct Source {
    uri: ConfigUri,
    #[cfg(feature = "aws")]
    s3: tokio::sync::OnceCell<aws_sdk_s3::Client>,
}

impl Source {
    /// A source for `uri`; an S3 client is made on first use.
    pub fn new(uri: ConfigUri) -> Self {
        Self {
            uri,
            #[cfg(feature = "aws")]
            s3: tokio::sync::OnceCell::new(),
        }
    }

    /// A source over a given S3 client (tests, custom endpoints).
    #[cfg(feature = "aws")]
    pub fn with_client(uri: ConfigUri, client: aws_sdk_s3::Client) -> Self {
        Self {
            uri,
            s3: tokio::sync::OnceCell::new_with(Some(client)),
        }
    }

    /// The URI.
    pub fn uri(&self) -> &ConfigUri {
        &self.uri
    }

    fn read_error(&self, why: impl Into<String>) -> SourceError {
        SourceError::Read {
            uri: self.uri.to_string(),
            why: why.into(),
        }
    }

    fn text(&self, bytes: Vec<u8>) -> Result<String, SourceError> {
        let bad = |why: String| SourceError::Content {
            uri: self.uri.to_string(),
            why,
        };
        if bytes.len() > MAX_CONFIG_BYTES {
            return Err(bad(format!(
                "is {} bytes; at most {MAX_CONFIG_BYTES} are read",
                bytes.len()
            )));
        }
        String::from_utf8(bytes).map_err(|_| bad("is not UTF-8 text".into()))
    }

    /// Reads the configuration unless its version is still `etag`.
    pub async fn fetch(&self, etag: Option<&str>) -> Result<Fetch, SourceError> {
        match &self.uri {
            ConfigUri::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| self.read_error(e.to_string()))?;
                let tag = format!("\"{}\"", hex::encode(sha2::Sha256::digest(&bytes)));
                if etag == Some(tag.as_str()) {
                    return Ok(Fetch::Unchanged);
                }
                Ok(Fetch::Changed(Fetched {
                    text: self.text(bytes)?,
                    etag: tag,
                    version: None,
                }))
            }
            #[cfg(feature = "aws")]
            ConfigUri::S3 { bucket, key } => self.fetch_s3(bucket, key, etag).await,
            #[cfg(not(feature = "aws"))]
            ConfigUri::S3 { .. } => Err(self.read_error("this build has no AWS support")),
        }
    }

    #[cfg(feature = "aws")]
    async fn client(&self) -> &aws_sdk_s3::Client {
        self.s3.get_or_init(s3_client).await
    }

    #[cfg(feature = "aws")]
    async fn fetch_s3(&self, bucket: &str, key: &str, etag: Option<&str>) -> Result<Fetch, SourceError> {
        let out = self
            .client()
            .await
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_if_none_match(etag.map(str::to_owned))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 304) => return Ok(Fetch::Unchanged),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                return Err(SourceError::Missing(self.uri.to_string()));
            }
            Err(e) => return Err(self.read_error(describe(&e))),
        };
        let tag = out.e_tag().unwrap_or_default().to_owned();
        let version = out.version_id().map(str::to_owned);
        if out
            .content_length()
            .is_some_and(|n| n > i64::try_from(MAX_CONFIG_BYTES).unwrap_or(i64::MAX))
        {
            return Err(SourceError::Content {
                uri: self.uri.to_string(),
                why: format!("is larger than {MAX_CONFIG_BYTES} bytes"),
            });
        }
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| self.read_error(e.to_string()))?
            .into_bytes()
            .to_vec();
        Ok(Fetch::Changed(Fetched {
            text: self.text(bytes)?,
            etag: tag,
            version,
        }))
    }

    /// Writes `text` as the configuration; returns the new version (S3's version id when
    /// the bucket is versioned, else its ETag).
    pub async fn put(&self, text: &str) -> Result<String, SourceError> {
        match &self.uri {
            ConfigUri::File(path) => {
                tokio::fs::write(path, text)
                    .await
                    .map_err(|e| self.read_error(e.to_string()))?;
                Ok(format!("\"{}\"", hex::encode(sha2::Sha256::digest(text.as_bytes()))))
            }
            #[cfg(feature = "aws")]
            ConfigUri::S3 { bucket, key } => {
                let out = self
                    .client()
                    .await
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .content_type("application/yaml")
                    .body(aws_sdk_s3::primitives::ByteStream::from(text.as_bytes().to_vec()))
                    .send()
                    .await
                    .map_err(|e| self.read_error(describe(&e)))?;
                Ok(out
                    .version_id()
                    .map(str::to_owned)
                    .or_else(|| out.e_tag().map(str::to_owned))
                    .unwrap_or_default())
            }
            #[cfg(not(feature = "aws"))]
            ConfigUri::S3 { .. } => Err(self.read_error("this build has no AWS support")),
        }
    }
}

/// An S3 client on the default AWS configuration, path-style when `AWS_ENDPOINT_URL` names
/// an emulator.
#[cfg(feature = "aws")]
pub async fn s3_client() -> aws_sdk_s3::Client {
    let sdk = aws_config::load_from_env().await;
    let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some_and(|v| !v.is_empty())
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty());
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[cfg(feature = "aws")]
fn describe<E>(e: &aws_sdk_s3::error::SdkError<E>) -> String
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
{
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            match (s.err().meta().code(), status) {
                (Some(code), _) => format!(
                    "{code} (HTTP {status}){}",
                    s.err().meta().message().map_or_else(String::new, |m| format!(": {m}"))
                ),
                (None, 404) => "no such object (HTTP 404)".into(),
                (None, 403) => "access denied (HTTP 403): the role needs s3:GetObject on it".into(),
                (None, _) => format!("HTTP {status}"),
            }
        }
        other => aws_sdk_s3::error::DisplayErrorContext(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            ConfigUri::parse("s3://b/dir/botgate.yaml").unwrap(),
            ConfigUri::S3 {
                bucket: "b".into(),
                key: "dir/botgate.yaml".into()
            }
        );
        assert_eq!(
            ConfigUri::parse("examples/botgate.yaml").unwrap(),
            ConfigUri::File("examples/botgate.yaml".into())
        );
        for bad in [
            "",
            "s3://",
            "s3://bucket",
            "s3://bucket/",
            "s3:///key",
            "https://x/y",
            "s3://b/dir/",
        ] {
            assert!(ConfigUri::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ConfigUri::parse("s3://b/k").unwrap().to_string(), "s3://b/k");
    }

    #[tokio::test]
    async fn a_file_is_reread_only_when_it_changed() {
        let dir = std::env::temp_dir().join(format!("botgate-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.yaml");
        std::fs::write(&path, "bots: {}\n").unwrap();
        let s = Source::new(ConfigUri::File(path.clone()));
        let Fetch::Changed(first) = s.fetch(None).await.unwrap() else {
            panic!("first read")
        };
        assert_eq!(first.text, "bots: {}\n");
        assert_eq!(s.fetch(Some(&first.etag)).await.unwrap(), Fetch::Unchanged);
        std::fs::write(&path, "bots: {}\nrules: []\n").unwrap();
        assert!(matches!(s.fetch(Some(&first.etag)).await.unwrap(), Fetch::Changed(_)));
        std::fs::write(&path, vec![0xff, 0xfe]).unwrap();
        assert!(matches!(s.fetch(None).await, Err(SourceError::Content { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
