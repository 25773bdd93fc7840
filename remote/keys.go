package remote

import "github.com/matroska-go/matroska/deps"

// keys holds every Redis key name and prefix of one namespace. It is the one
// place where names are built: the Lua scripts receive the prefixes as
// arguments and never spell a name themselves, so a later layout (Redis
// Cluster hash tags) changes only this file.
type keys struct {
	seq     string // N:seq, the invalidation sequence (INCR)
	epoch   string // N:epoch, the random id of the current sequence
	log     string // N:log, the stream of recent invalidations
	channel string // N:inv, the pub/sub channel of invalidations
	pending string // N:pending, the registry of invalidations in phases
	hist    string // N:hist, the history guard (lua/history.lua)

	entryPrefix  string // N:e:, followed by the entry's key
	depPrefix    string // N:d:, followed by the dependency's canonical string
	tombPrefix   string // N:i:, followed by the dependency's canonical string
	pendPrefix   string // N:p:, followed by a registry member "<seq>:<epoch>:<dep>"
	feedPrefix   string // N:feed:, followed by a feed's name (feed.go)
	reportPrefix string // N:feedstats:, followed by a feed's name (feed.go)

	// depSuffix ends a dependency set's and a tombstone's name: "" on a
	// standalone Redis, "}" under the cluster protocol (useCluster).
	depSuffix string
}

func newKeys(ns string) keys {
	return keys{
		seq:          ns + ":seq",
		epoch:        ns + ":epoch",
		log:          ns + ":log",
		channel:      ns + ":inv",
		pending:      ns + ":pending",
		hist:         ns + ":hist",
		entryPrefix:  ns + ":e:",
		depPrefix:    ns + ":d:",
		tombPrefix:   ns + ":i:",
		pendPrefix:   ns + ":p:",
		feedPrefix:   ns + ":feed:",
		reportPrefix: ns + ":feedstats:",
	}
}

func (k *keys) entry(key string) string { return k.entryPrefix + key }
func (k *keys) dep(d deps.Dep) string   { return k.depPrefix + d.String() + k.depSuffix }
func (k *keys) tomb(d deps.Dep) string  { return k.tombPrefix + d.String() + k.depSuffix }

// useCluster switches the names that the Store's accessors and Log use to
// the cluster layout of ck (see clusterKeys).
func (k *keys) useCluster(ck clusterKeys) {
	k.seq, k.epoch, k.log, k.channel = ck.seq, ck.epoch, ck.log, ck.channel
	k.entryPrefix, k.depPrefix, k.tombPrefix, k.depSuffix = ck.entryPrefix, ck.depPrefix, ck.tombPrefix, "}"
	k.pending, k.pendPrefix = "", ck.pendPrefix
}
