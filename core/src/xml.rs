//! A small, safe reader and writer for the flat XML documents of WeChat and WeCom.
//!
//! The reader never expands entities: a document with a DTD (`<!DOCTYPE ...>`) is rejected
//! outright, and only the five predefined entities and numeric character references are
//! decoded, so billion-laughs and external-entity (XXE) payloads cannot do anything.
//! Depth and field count are bounded.

use quick_xml::Reader;
use quick_xml::events::Event as XmlEvent;
use thiserror::Error;

/// The deepest element nesting accepted.
const MAX_DEPTH: usize = 8;
/// The most leaf fields accepted in one document.
const MAX_FIELDS: usize = 256;

/// Why an XML document was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum XmlError {
    /// The document declares a DTD; entity declarations are never processed.
    #[error("XML with a DOCTYPE/DTD is refused")]
    Dtd,
    /// The document refers to an entity that is not predefined.
    #[error("XML refers to an undeclared entity")]
    Entity,
    /// The document is not well formed.
    #[error("XML is not well formed: {0}")]
    Syntax(String),
    /// The document nests too deeply or has too many fields.
    #[error("XML is too deep or has too many fields")]
    Limits,
    /// The document has no root element.
    #[error("XML has no root element")]
    Empty,
}

/// The leaf fields of a flat XML document, in document order. Nested leaves are named by
/// their path below the root, joined with `.` (for example `ScanCodeInfo.ScanResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlFields {
    fields: Vec<(String, String)>,
}

impl XmlFields {
    /// The text of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// All fields in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Parses a flat XML document such as `<xml><A><![CDATA[x]]></A><B>1</B></xml>`.
pub fn parse(input: &[u8]) -> Result<XmlFields, XmlError> {
    let text = std::str::from_utf8(input).map_err(|_| XmlError::Syntax("not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut path: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut has_child: Vec<bool> = Vec::new();
    let mut fields = Vec::new();
    let mut saw_root = false;
    loop {
        let ev = reader.read_event().map_err(|e| XmlError::Syntax(e.to_string()))?;
        match ev {
            XmlEvent::DocType(_) => return Err(XmlError::Dtd),
            XmlEvent::Start(start) => {
                if saw_root && path.is_empty() {
                    return Err(XmlError::Syntax("more than one root element".into()));
                }
                saw_root = true;
                if path.len() >= MAX_DEPTH {
                    return Err(XmlError::Limits);
                }
                if let Some(parent) = has_child.last_mut() {
                    *parent = true;
                }
                let name = start.name().as_ref().to_owned();
                path.push(name);
                has_child.push(false);
                current.clear();
            }
            XmlEvent::Empty(start) => {
                if path.is_empty() {
                    saw_root = true;
                    continue;
                }
                if let Some(parent) = has_child.last_mut() {
                    *parent = true;
                }
                let qname = start.name();
                let name: &str = qname.as_ref();
                push_field(&mut fields, &path[1..], Some(name), String::new())?;
            }
            XmlEvent::End(_) => {
                let leaf = !has_child.pop().unwrap_or(true);
                if leaf && path.len() > 1 {
                    push_field(&mut fields, &path[1..], None, std::mem::take(&mut current))?;
                }
                path.pop();
                current.clear();
            }
            XmlEvent::Text(t) => {
                if !path.is_empty() {
                    current.push_str(&t.xml10_content());
                } else if !t.xml10_content().trim().is_empty() {
                    return Err(XmlError::Syntax("text outside the root element".into()));
                }
            }
            XmlEvent::CData(c) => {
                if path.is_empty() {
                    return Err(XmlError::Syntax("CDATA outside the root element".into()));
                }
                current.push_str(&c.into_inner());
            }
            XmlEvent::GeneralRef(r) => {
                if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(ch)) => current.push(ch),
                        _ => return Err(XmlError::Syntax("bad character reference".into())),
                    }
                } else {
                    let ch = match r.into_inner().as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        _ => return Err(XmlError::Entity),
                    };
                    current.push(ch);
                }
            }
            XmlEvent::Eof => break,
            XmlEvent::Comment(_) | XmlEvent::Decl(_) | XmlEvent::PI(_) => {}
        }
    }
    if !path.is_empty() {
        return Err(XmlError::Syntax("unclosed element".into()));
    }
    if !saw_root {
        return Err(XmlError::Empty);
    }
    Ok(XmlFields { fields })
}

fn push_field(
    fields: &mut Vec<(String, String)>,
    path: &[String],
    last: Option<&str>,
    value: String,
) -> Result<(), XmlError> {
    if fields.len() >= MAX_FIELDS {
        return Err(XmlError::Limits);
    }
    let mut key = path.join(".");
    if let Some(last) = last {
        if !key.is_empty() {
            key.push('.');
        }
        key.push_str(last);
    }
    fields.push((key, value));
    Ok(())
}

/// Wraps `text` in CDATA, splitting any `]]>` so the section cannot be closed early.
pub fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// Builds `<xml><K>v</K>...</xml>`: string values go in CDATA, numbers (`raw`) as they are.
pub fn build(fields: &[(&str, XmlValue<'_>)]) -> String {
    let mut out = String::from("<xml>");
    for (k, v) in fields {
        out.push('<');
        out.push_str(k);
        out.push('>');
        match v {
            XmlValue::Text(t) => out.push_str(&cdata(t)),
            XmlValue::Raw(r) => out.push_str(r),
        }
        out.push_str("</");
        out.push_str(k);
        out.push('>');
    }
    out.push_str("</xml>");
    out
}

/// A value for [`build`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlValue<'a> {
    /// Text, written inside CDATA.
    Text(&'a str),
    /// Already-safe markup or a number, written as is.
    Raw(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cdata_entities_and_nesting() {
        let doc = b"<xml><A><![CDATA[x]]]]><![CDATA[>y]]></A><B>1 &amp; &#x4e2d;</B><C><D>n</D></C><E/></xml>";
        let f = parse(doc).unwrap();
        assert_eq!(f.get("A"), Some("x]]>y"));
        assert_eq!(f.get("B"), Some("1 & \u{4e2d}"));
        assert_eq!(f.get("C.D"), Some("n"));
        assert_eq!(f.get("E"), Some(""));
        assert_eq!(f.get("C"), None);
    }

    #[test]
    fn cdata_round_trip() {
        let s = "a]]>b<c>&";
        let doc = build(&[("K", XmlValue::Text(s))]);
        assert_eq!(parse(doc.as_bytes()).unwrap().get("K"), Some(s));
    }

    #[test]
    fn refuses_dtd_and_unknown_entities() {
        let laughs = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><A>&lol2;</A></xml>"#;
        assert_eq!(parse(laughs), Err(XmlError::Dtd));
        let xxe = br#"<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><A>&xxe;</A></xml>"#;
        assert_eq!(parse(xxe), Err(XmlError::Dtd));
        assert_eq!(parse(b"<xml><A>&xxe;</A></xml>"), Err(XmlError::Entity));
    }

    #[test]
    fn refuses_malformed() {
        assert!(parse(b"<xml><A>x</B></xml>").is_err());
        assert!(parse(b"<xml><A>x</A>").is_err());
        assert!(parse(b"").is_err());
        let deep = "<a>".repeat(20) + &"</a>".repeat(20);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::Limits));
    }
}
