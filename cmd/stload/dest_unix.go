//go:build linux || darwin || freebsd

package main

import "golang.org/x/sys/unix"

// writable reports why the process cannot create files in dir (a
// permission, a read-only file system), or nil.
func writable(dir string) error {
	return unix.Access(dir, unix.W_OK|unix.X_OK)
}

// diskFree returns the bytes of dir's file system available to an
// unprivileged user.
func diskFree(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
