//! An insertion-ordered string-keyed map with Python `dict` semantics.
//!
//! fail2ban's results depend on dict order (the order of sections, of
//! options and so of failregex lists, and the order in which tags are
//! substituted), and on `dict.update` keeping an existing key where it
//! was. This small map gives exactly that without another dependency.

use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct OrderedMap<V> {
    entries: Vec<(String, V)>,
    index: HashMap<String, usize>,
}

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap {
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<V: PartialEq> PartialEq for OrderedMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl<V> OrderedMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        match self.index.get(key) {
            Some(&i) => Some(&mut self.entries[i].1),
            None => None,
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// Like `d[key] = value`: a new key goes last, an existing one keeps
    /// its place. Returns the replaced value.
    pub fn insert(&mut self, key: impl Into<String>, value: V) -> Option<V> {
        let key = key.into();
        match self.index.get(&key) {
            Some(&i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
                None
            }
        }
    }

    /// The value for `key`, inserted by `make` first if missing.
    pub fn entry_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.index.get(key) {
            Some(&i) => i,
            None => {
                self.index.insert(key.to_string(), self.entries.len());
                self.entries.push((key.to_string(), make()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[i].1
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> + Clone {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// `dict.pop(key)`: the others keep their order.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.index.remove(key)?;
        let (_, v) = self.entries.remove(i);
        for (_, at) in self.index.iter_mut().filter(|(_, at)| **at > i) {
            *at -= 1;
        }
        Some(v)
    }

    /// Keeps the entries `keep` accepts, in order; one pass for many removals.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &V) -> bool) {
        self.entries.retain(|(k, v)| keep(k, v));
        self.index.clear();
        for (i, (k, _)) in self.entries.iter().enumerate() {
            self.index.insert(k.clone(), i);
        }
    }

    /// Empties the map, returning the entries in order.
    pub fn drain(&mut self) -> Vec<(String, V)> {
        self.index.clear();
        std::mem::take(&mut self.entries)
    }
}

impl<V: Clone> OrderedMap<V> {
    /// `dict.update(other)`.
    pub fn update(&mut self, other: &OrderedMap<V>) {
        for (k, v) in other.iter() {
            self.insert(k, v.clone());
        }
    }
}

impl<K: Into<String>, V> FromIterator<(K, V)> for OrderedMap<V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = OrderedMap::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_keeps_first_position_like_dict() {
        let mut m: OrderedMap<i32> = [("a", 1), ("b", 2)].into_iter().collect();
        assert_eq!(m.insert("a", 3), Some(1));
        m.insert("c", 4);
        let got: Vec<_> = m.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert_eq!(got, vec![("a".into(), 3), ("b".into(), 2), ("c".into(), 4)]);
        assert_eq!(m.get("b"), Some(&2));
        assert!(m.get("z").is_none());
        assert_eq!(m.remove("a"), Some(3));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(m.get("c"), Some(&4));
        m.retain(|k, _| k != "b");
        assert_eq!(m.get("c"), Some(&4));
        assert_eq!(m.len(), 1);
    }
}
