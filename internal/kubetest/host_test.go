package kubetest

import (
	"strings"
	"testing"
)

// The cleanup script may remove only what carries the node's names (or
// the mount points the node made), and writes sysctls back only to the
// values recorded before: it runs as root on a shared machine.
func TestCleanupScriptTouchesOnlyOurs(t *testing.T) {
	script := cleanupScript(map[string]string{"kernel/panic": "1", "vm/overcommit_memory": "0"}, []string{"/run/netns"})
	for _, want := range []string{
		"cg=" + realCgroup,
		"ip link del " + realLink,
		"[ \"$(cat /proc/sys/kernel/panic)\" = '1' ] || echo '1' >/proc/sys/kernel/panic",
		"[ \"$(cat /proc/sys/vm/overcommit_memory)\" = '0' ] || echo '0' >/proc/sys/vm/overcommit_memory",
		"rmdir /run/netns",
		"rm -rf " + realBase,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the cleanup script lacks %q:\n%s", want, script)
		}
	}
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		for _, verb := range []string{"rm ", "rmdir ", "ip link del", "find "} {
			if strings.HasPrefix(line, verb) && !strings.Contains(line, realBase) && !strings.Contains(line, realLink) &&
				!strings.Contains(line, `"$cg"`) && !strings.Contains(line, "/run/netns") && !strings.Contains(line, `"$d"`) {
				t.Errorf("the cleanup script removes something without our names: %s", line)
			}
		}
	}
	// Processes: only those in our cgroups.
	if !strings.Contains(script, `procs() { find /sys/fs/cgroup/*/"$cg" -name cgroup.procs`) {
		t.Errorf("the cleanup script kills processes found elsewhere than in the node's cgroups:\n%s", script)
	}
}
