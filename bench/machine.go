package bench

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine holds the facts every report carries, so that no figure is
// quoted without the hardware it was measured on.
type Machine struct {
	// CPU is the model name from /proc/cpuinfo.
	CPU string `json:"cpu"`
	// Cores is runtime.NumCPU; GOMAXPROCS what the run was allowed.
	Cores      int `json:"cores"`
	GOMAXPROCS int `json:"gomaxprocs"`
	// MemoryGiB is MemTotal from /proc/meminfo.
	MemoryGiB float64 `json:"memory_gib"`
	// Kernel is the release (uname -r): 4.4.0 under gVisor.
	Kernel string `json:"kernel"`
	// OSArch and Go describe the build.
	OSArch string `json:"os_arch"`
	Go     string `json:"go"`
	// FileSystem is the type of the one holding the benchmark's files.
	FileSystem string `json:"file_system,omitempty"`
	// LoadAvg is /proc/loadavg when the report started: on a shared
	// machine, other work competes for the cores and the memory bus.
	LoadAvg string   `json:"loadavg,omitempty"`
	GPUs    []string `json:"gpus,omitempty"` // nvidia-smi: name, driver, PCIe gen/width, memory
}

// ReadMachine gathers the facts from /proc and, where present, nvidia-smi.
func ReadMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		OSArch: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseFloat(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0], 64); err == nil {
		m.MemoryGiB = kb / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.TrimSpace(string(b))
	}
	m.GPUs = nvidiaSMI()
	return m
}

// procField returns the value of the first "key: value" line of a /proc
// file whose key is key.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// nvidiaSMI lists the GPUs nvidia-smi sees, one line each, or nothing
// when there is no nvidia-smi (or it hangs: it gets two seconds).
func nvidiaSMI() []string {
	if _, err := exec.LookPath("nvidia-smi"); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nvidia-smi",
		"--query-gpu=index,name,driver_version,pcie.link.gen.current,pcie.link.width.current,memory.total",
		"--format=csv,noheader").Output()
	if err != nil {
		return nil
	}
	var gpus []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			gpus = append(gpus, l)
		}
	}
	return gpus
}
