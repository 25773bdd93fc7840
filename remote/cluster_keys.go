package remote

import "github.com/matroska-go/matroska/deps"

// clusterKeys are the key names of one namespace N under the Redis Cluster
// protocol (see cluster.go). Every script touches the keys of one hash slot
// only:
//
//   - the control keys share the hash tag {N}: {N}:seq, {N}:epoch, {N}:pub,
//     {N}:flight, {N}:msgs, {N}:log, {N}:runs, and the shard channel {N}:inv;
//   - a dependency's set and tombstone share the tag of the dependency:
//     N:d:{<dep>} and N:i:{<dep>}, and so do the sets an invalidation sets
//     aside, N:p:{<dep>}:<seq>. Canonical dependency strings never contain a
//     brace (package deps escapes them), so the tag is exactly the
//     dependency and is never empty;
//   - an entry, N:e:<key>, is hashed the way Redis hashes it: by the whole
//     name, or by the first {...} group of the key when the key has one.
//     Nothing else lives in an entry's slot, so a user key with braces only
//     chooses where its entry lives (keys with the same tag share a master).
//
// The namespace itself holds no brace (New checks it).
type clusterKeys struct {
	seq     string // {N}:seq, the last sequence number handed out (INCR)
	epoch   string // {N}:epoch, the random id of the current sequence
	pub     string // {N}:pub, the published watermark
	flight  string // {N}:flight, ZSET of invalidations in flight, scored by their deadline
	msgs    string // {N}:msgs, HASH of seq -> "origin\ndeps" of unpublished invalidations
	log     string // {N}:log, the stream of published invalidations
	runs    string // {N}:runs, SET of the master processes of the epoch (cluster.go, "Lost history")
	channel string // {N}:inv, the shard channel

	entryPrefix string // N:e:
	depPrefix   string // N:d:{
	tombPrefix  string // N:i:{
	pendPrefix  string // N:p:{
}

func newClusterKeys(ns string) clusterKeys {
	tag := "{" + ns + "}"
	return clusterKeys{
		seq:         tag + ":seq",
		epoch:       tag + ":epoch",
		pub:         tag + ":pub",
		flight:      tag + ":flight",
		msgs:        tag + ":msgs",
		log:         tag + ":log",
		runs:        tag + ":runs",
		channel:     tag + ":inv",
		entryPrefix: ns + ":e:",
		depPrefix:   ns + ":d:{",
		tombPrefix:  ns + ":i:{",
		pendPrefix:  ns + ":p:{",
	}
}

// control are the keys of the control slot, in the order the control
// scripts take them.
func (k *clusterKeys) control() []string {
	return []string{k.seq, k.epoch, k.pub, k.flight, k.msgs, k.log, k.runs}
}

func (k *clusterKeys) entry(key string) string { return k.entryPrefix + key }
func (k *clusterKeys) dep(d string) string     { return k.depPrefix + d + "}" }
func (k *clusterKeys) tomb(d string) string    { return k.tombPrefix + d + "}" }

// pend is the set that invalidation seq set aside for dependency d.
func (k *clusterKeys) pend(d string, seq string) string { return k.pendPrefix + d + "}:" + seq }

// depKey and tombKey take a deps.Dep.
func (k *clusterKeys) depKey(d deps.Dep) string  { return k.dep(d.String()) }
func (k *clusterKeys) tombKey(d deps.Dep) string { return k.tomb(d.String()) }
