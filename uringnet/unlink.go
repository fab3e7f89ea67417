package uringnet

import "golang.org/x/sys/unix"

// SetUnlinkOnClose sets whether Close removes the socket file of a Unix
// listener, like net.UnixListener's. A listener from Listen or
// ListenUnix removes it by default, one from FileListener does not. It
// has no effect on a TCP listener or on an abstract Unix socket (a name
// starting with '@'), which has no file.
func (l *Listener) SetUnlinkOnClose(unlink bool) {
	l.fd.unlink.Store(unlink)
}

// unlinkOnClose makes the last close of the socket remove the file name
// if fd.unlink is set then, and sets it to unlink.
func (fd *netFD) unlinkOnClose(name string, unlink bool) {
	fd.unlink.Store(unlink)
	fd.onClose = func() {
		if fd.unlink.Load() {
			unix.Unlink(name)
		}
	}
}
