//! Users and groups from the box's own `/etc/passwd` and `/etc/group`, parsed by hand.
//!
//! The agent is a static binary dropped into arbitrary images: NSS (`getpwnam`) would load the
//! image's modules or none at all. Numeric users work without either file.

use std::path::Path;

/// Who a process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the primary group included).
    pub groups: Vec<u32>,
    /// The user's home directory, for HOME.
    pub home: String,
}

/// Why a user spec does not resolve.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("malformed user {0:?}: expected uid[:gid] or name[:group]")]
    Malformed(String),
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
}

/// The contents of the user databases; either may be missing from an image.
#[derive(Default)]
pub struct Databases {
    pub passwd: String,
    pub group: String,
}

impl Databases {
    /// Reads `<root>/etc/passwd` and `<root>/etc/group`; a missing file reads as empty.
    pub fn load(root: &Path) -> Self {
        let read = |name: &str| std::fs::read_to_string(root.join("etc").join(name));
        Self {
            passwd: read("passwd").unwrap_or_default(),
            group: read("group").unwrap_or_default(),
        }
    }

    /// Resolves `uid[:gid]` or `name[:group]` (the parts may mix: `1000:wheel`).
    pub fn resolve(&self, spec: &str) -> Result<Credentials, UserError> {
        let (user, group) = match spec.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (spec, None),
        };
        if user.is_empty() || group.is_some_and(str::is_empty) {
            return Err(UserError::Malformed(spec.to_owned()));
        }
        let (uid, entry) = match user.parse::<u32>() {
            // A numeric user needs no entry; when there is one it supplies group and home.
            Ok(uid) => (uid, self.passwd_entries().find(|e| e.uid == uid)),
            Err(_) => {
                let entry = self
                    .passwd_entries()
                    .find(|e| e.name == user)
                    .ok_or_else(|| UserError::UnknownUser(user.to_owned()))?;
                (entry.uid, Some(entry))
            }
        };
        let gid = match group {
            Some(group) => match group.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => self
                    .group_entries()
                    .find(|g| g.name == group)
                    .map(|g| g.gid)
                    .ok_or_else(|| UserError::UnknownGroup(group.to_owned()))?,
            },
            // A uid unknown to the image gets group 0, as other container runtimes do.
            None => entry.as_ref().map_or(0, |e| e.gid),
        };
        let mut groups = vec![gid];
        if let Some(entry) = &entry {
            for g in self.group_entries().filter(|g| g.members.split(',').any(|m| m == entry.name))
            {
                if !groups.contains(&g.gid) {
                    groups.push(g.gid);
                }
            }
        }
        let home = entry.as_ref().map_or("/", |e| e.home).to_owned();
        Ok(Credentials { uid, gid, groups, home })
    }

    /// Home directory of `uid`, when the image knows it.
    pub fn home_of(&self, uid: u32) -> Option<String> {
        self.passwd_entries().find(|e| e.uid == uid).map(|e| e.home.to_owned())
    }

    fn passwd_entries(&self) -> impl Iterator<Item = PasswdEntry<'_>> {
        self.passwd.lines().filter_map(PasswdEntry::parse)
    }

    fn group_entries(&self) -> impl Iterator<Item = GroupEntry<'_>> {
        self.group.lines().filter_map(GroupEntry::parse)
    }
}

/// `name:password:uid:gid:gecos:home:shell`
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

impl<'a> PasswdEntry<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        if line.starts_with('#') {
            return None;
        }
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        let _gecos = fields.next();
        let home = fields.next().filter(|h| !h.is_empty()).unwrap_or("/");
        Some(Self { name, uid, gid, home })
    }
}

/// `name:password:gid:member,member`
struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: &'a str,
}

impl<'a> GroupEntry<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        if line.starts_with('#') {
            return None;
        }
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let gid = fields.next()?.parse().ok()?;
        let members = fields.next().unwrap_or("");
        Some(Self { name, gid, members })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Databases {
        Databases {
            passwd:
                "# comment\nroot:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n\
                     broken line\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                    .into(),
            group:
                "root:x:0:\nalice:x:1000:\nwheel:x:10:alice,bob\naudio:x:29:bob\nstaff:x:50:alice\n"
                    .into(),
        }
    }

    #[test]
    fn name_gets_primary_and_supplementary_groups_and_home() {
        let c = db().resolve("alice").expect("alice resolves");
        assert_eq!((c.uid, c.gid), (1000, 1000));
        assert_eq!(c.groups, vec![1000, 10, 50]);
        assert_eq!(c.home, "/home/alice");
    }

    #[test]
    fn numeric_user_in_passwd_takes_its_group() {
        let c = db().resolve("65534").expect("numeric resolves");
        assert_eq!((c.uid, c.gid, c.home.as_str()), (65534, 65534, "/nonexistent"));
    }

    #[test]
    fn numeric_user_works_without_databases() {
        let c = Databases::default().resolve("4242:77").expect("numeric needs no files");
        assert_eq!((c.uid, c.gid), (4242, 77));
        assert_eq!(c.groups, vec![77]);
        assert_eq!(c.home, "/");
        let c = Databases::default().resolve("4242").expect("numeric needs no files");
        assert_eq!(c.gid, 0);
    }

    #[test]
    fn group_by_name_overrides_primary() {
        let c = db().resolve("alice:wheel").expect("resolves");
        assert_eq!((c.uid, c.gid), (1000, 10));
        assert_eq!(c.groups, vec![10, 50]);
    }

    #[test]
    fn errors_name_the_subject() {
        assert_eq!(db().resolve("mallory"), Err(UserError::UnknownUser("mallory".into())));
        assert_eq!(db().resolve("alice:nogroup"), Err(UserError::UnknownGroup("nogroup".into())));
        assert_eq!(db().resolve(":5"), Err(UserError::Malformed(":5".into())));
        assert_eq!(db().resolve("alice:"), Err(UserError::Malformed("alice:".into())));
    }
}
