package uringnet

// singleShotIf makes l accept with one operation per Accept, even where
// multishot accept exists, if single is set; it must be called before
// l's first Accept.
func singleShotIf(l *Listener, single bool) *Listener {
	if single {
		l.multishot = false
	}
	return l
}
