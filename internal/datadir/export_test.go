package datadir

import "time"

// StopRenewing makes l's holder behave as if it had died: no renewals.
func StopRenewing(l *Lock) {
	close(l.stop)
	<-l.done
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	close(l.done)
}

// TrustLease makes l's holder believe its lease stands, as a process
// paused past its lease would on waking.
func TrustLease(l *Lock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lost, l.validUntil = nil, time.Now().Add(time.Hour)
}

// HeldLock is the lock r holds.
func (r *Remote) HeldLock() *Lock { return r.lock }
