package bus

import "sync/atomic"

// Stats are the bus's counters since Start, and its position. The fields are
// read one by one, not as one atomic snapshot.
type Stats struct {
	Received   uint64 // messages received on the channel, malformed ones included
	Applied    uint64 // messages handed to Handler.Apply (from the channel or the log)
	Duplicates uint64 // messages already applied or covered by a reset, ignored
	Malformed  uint64 // messages dropped: undecodable, oversized or on another channel
	Forged     uint64 // messages dropped because Config.Key is set and they are not signed with it
	StaleEpoch uint64 // messages of an epoch other than the current one, ignored
	Gaps       uint64 // sequence gaps seen on the channel
	Lost       uint64 // messages found missing by a heartbeat (the channel was silent)
	Replayed   uint64 // messages applied from the log (a subset of Applied)
	Fetched    uint64 // messages received with their dependencies in the log (Message.InLog), read from it and applied (a subset of Applied, not of Replayed)
	Holds      uint64 // holds received (Message.Hold): invalidations Redis refused
	Resets     uint64 // calls to Handler.Reset, the first start included
	Epochs     uint64 // resets to another epoch than the current one (Redis restarted, lost history, was flushed)
	Reconnects uint64 // subscriptions confirmed again after the first
	Silences   uint64 // trust windows passed without a sign of life (each forced a reconnection)
	Heartbeats uint64 // heartbeats sent
	Untrusted  uint64 // transitions from trusted to untrusted
	SourceErrs uint64 // failed Source calls

	Seq     uint64 // last sequence number applied or reset to
	Epoch   string // current epoch ("" before the first reset)
	Trusted bool
}

// counters are the atomic fields behind Stats.
type counters struct {
	received, applied, duplicates, malformed, staleEpoch atomic.Uint64
	gaps, lost, replayed, resets, epochs, fetched        atomic.Uint64
	holds                                                atomic.Uint64
	reconnects, silences, heartbeats, untrusted          atomic.Uint64
	sourceErrs, forged                                   atomic.Uint64

	seq   atomic.Uint64
	epoch atomic.Pointer[string]
}

// Stats returns the bus's counters. It may be called after Close.
func (b *Bus) Stats() Stats {
	n := &b.n
	return Stats{
		Received:   n.received.Load(),
		Applied:    n.applied.Load(),
		Duplicates: n.duplicates.Load(),
		Malformed:  n.malformed.Load(),
		Forged:     n.forged.Load(),
		StaleEpoch: n.staleEpoch.Load(),
		Gaps:       n.gaps.Load(),
		Lost:       n.lost.Load(),
		Replayed:   n.replayed.Load(),
		Fetched:    n.fetched.Load(),
		Holds:      n.holds.Load(),
		Resets:     n.resets.Load(),
		Epochs:     n.epochs.Load(),
		Reconnects: n.reconnects.Load(),
		Silences:   n.silences.Load(),
		Heartbeats: n.heartbeats.Load(),
		Untrusted:  n.untrusted.Load(),
		SourceErrs: n.sourceErrs.Load(),
		Seq:        n.seq.Load(),
		Epoch:      *n.epoch.Load(),
		Trusted:    b.trusted.Load(),
	}
}
