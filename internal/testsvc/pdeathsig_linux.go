package testsvc

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill cmd's process when the test binary dies without cleaning up (a
// test timeout's panic, a kill), so that no redis-server outlives it.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
