package datadir

// StopRenewing makes l's holder behave as if it had died: no renewals.
func StopRenewing(l *Lock) {
	close(l.stop)
	<-l.done
}
