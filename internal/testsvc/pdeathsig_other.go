//go:build !linux

package testsvc

import "os/exec"

// setParentDeathSignal does nothing where the kernel cannot tie a child's life to its parent's: there, a test
// binary killed before its cleanups leaves its redis-server processes behind.
func setParentDeathSignal(*exec.Cmd) {}
