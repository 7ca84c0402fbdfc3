package command

import (
	"errors"

	"golang.org/x/sys/unix"
)

// pseudoFileSystems are the file systems whose files the kernel makes up
// when they are read: their sizes are 0 or a page, whatever they hold.
var pseudoFileSystems = map[int64]string{
	unix.PROC_SUPER_MAGIC:    "proc",
	unix.SYSFS_MAGIC:         "sysfs",
	unix.DEBUGFS_MAGIC:       "debugfs",
	unix.TRACEFS_MAGIC:       "tracefs",
	unix.SECURITYFS_MAGIC:    "securityfs",
	unix.CGROUP_SUPER_MAGIC:  "cgroup",
	unix.CGROUP2_SUPER_MAGIC: "cgroup2",
	unix.BPF_FS_MAGIC:        "bpf",
	unix.PSTOREFS_MAGIC:      "pstore",
	unix.EFIVARFS_MAGIC:      "efivarfs",
	unix.SELINUX_MAGIC:       "selinuxfs",
	unix.SMACK_MAGIC:         "smackfs",
}

// pseudoFile refuses a file of a pseudo file system.
func pseudoFile(fd int) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return nil // cannot tell: the size check in checkSource remains
	}
	if name, ok := pseudoFileSystems[int64(st.Type)]; ok {
		return errors.New("a file of the " + name + " pseudo file system, whose size is not its content: copy it to a regular file first")
	}
	return nil
}
