// Command cadvisor is cAdvisor (github.com/google/cadvisor) for Keel's
// cadvisor package: the library's container manager (cgroups of every
// container, containerd's named by their task) behind cAdvisor's REST API
// v1.3, its Prometheus metrics and /healthz, on cAdvisor's flags and port.
//
// cAdvisor's own main lives in a module (github.com/google/cadvisor/cmd)
// that is not published through the Go module proxy, so this program
// wires the published library (github.com/google/cadvisor/lib) itself.
// Called as waitfordocker.sh it is LinuxKit's wrapper instead (wait.go).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/cadvisor/lib/cache/memory"
	"github.com/google/cadvisor/lib/container"
	_ "github.com/google/cadvisor/lib/container/containerd/install"
	"github.com/google/cadvisor/lib/manager"
	"github.com/google/cadvisor/lib/metrics"
	info "github.com/google/cadvisor/lib/model"
	"github.com/google/cadvisor/lib/utils/sysfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// keelNamespace is where Keel's svcd runs services in containerd (as
// LinuxKit's), cAdvisor's default being Kubernetes' k8s.io.
const keelNamespace = "services.linuxkit"

// containerdSocket is the system's containerd socket as the label's bind
// of /var/run shows it.
const containerdSocket = "/var/run/containerd/containerd.sock"

// maxRequest bounds a request body (a ContainerInfoRequest is a few
// fields).
const maxRequest = 64 << 10

func main() {
	if filepath.Base(os.Args[0]) == "waitfordocker.sh" {
		os.Exit(waitMain(os.Args[1:]))
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cadvisor:", err)
		os.Exit(1)
	}
}

// metricSet is cAdvisor's --enable_metrics / --disable_metrics value.
type metricSet struct {
	set container.MetricSet
}

func (m *metricSet) String() string {
	if m.set == nil {
		return ""
	}
	return m.set.String()
}

func (m *metricSet) Set(s string) error {
	set := container.MetricSet{}
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !container.AllMetrics.Has(container.MetricKind(k)) {
			return fmt.Errorf("unknown metric %q (known: %s)", k, container.AllMetrics.String())
		}
		set[container.MetricKind(k)] = struct{}{}
	}
	m.set = set
	return nil
}

func run(args []string) error {
	fs := flag.CommandLine
	klog.InitFlags(fs)
	port := fs.Int("port", 8080, "port to listen on")
	listenIP := fs.String("listen_ip", "", "IP to listen on, defaults to all IPs")
	storageDuration := fs.Duration("storage_duration", 2*time.Minute, "how long to keep data stored")
	rawPrefixes := fs.String("raw_cgroup_prefix_whitelist", "", "comma-separated cgroup path prefixes the raw-cgroup handler takes (empty: every cgroup that no other handler, such as containerd's, takes)")
	envWhitelist := fs.String("env_metadata_whitelist", "", "comma-separated prefixes of environment variables of containers to report")
	var enable, disable metricSet
	fs.Var(&enable, "enable_metrics", "comma-separated list of metrics to enable (overrides --disable_metrics when given)")
	fs.Var(&disable, "disable_metrics", "comma-separated list of metrics to disable (e.g. disk,tcp,udp)")
	// LinuxKit's command line gives -logtostderr, which klog now always
	// does; accepted as it is.
	for name, v := range map[string]string{"containerd-namespace": keelNamespace, "containerd": containerdSocket} {
		if err := fs.Set(name, v); err != nil {
			return err
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	included := container.AllMetrics
	if enable.set != nil {
		included = enable.set
	} else if disable.set != nil {
		included = container.AllMetrics.Difference(disable.set)
	}
	// perf events and resctrl need files and hardware that are not set up
	// here; cAdvisor's own defaults leave them off too.
	included = included.Difference(container.MetricSet{container.PerfMetrics: {}, container.ResctrlMetrics: {}})

	interval := 1 * time.Second
	if f := fs.Lookup("housekeeping_interval"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil {
			interval = d
		}
	}
	dynamic := true
	m, err := manager.New(memory.New(*storageDuration, nil), sysfs.NewRealSysFs(),
		manager.HousekeepingConfig{Interval: &interval, AllowDynamic: &dynamic},
		included, strings.Split(*rawPrefixes, ","), splitNonEmpty(*envWhitelist), "", 0)
	if err != nil {
		return fmt.Errorf("creating the container manager: %w", err)
	}
	if err := m.Start(); err != nil {
		return fmt.Errorf("starting the container manager: %w", err)
	}
	defer m.Stop()

	addr := net.JoinHostPort(*listenIP, strconv.Itoa(*port))
	srv := &http.Server{Addr: addr, Handler: newMux(m, included), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	klog.Infof("cadvisor: serving the API v1.3, /metrics and /healthz on %s", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func splitNonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// infoSource is what the handlers need of cAdvisor's manager.
type infoSource interface {
	GetContainerInfo(name string, query *info.ContainerInfoRequest) (*info.ContainerInfo, error)
	SubcontainersInfo(name string, query *info.ContainerInfoRequest) ([]*info.ContainerInfo, error)
	GetMachineInfo() (*info.MachineInfo, error)
}

func newMux(m manager.Manager, included container.MetricSet) *http.ServeMux {
	mux := apiMux(m)
	reg := prometheus.NewRegistry()
	opts := info.RequestOptions{IdType: info.TypeName, Count: 1, Recursive: true}
	reg.MustRegister(metrics.NewPrometheusCollector(m, nil, included, clock.RealClock{}, opts))
	reg.MustRegister(metrics.NewPrometheusMachineCollector(m, included))
	// As cAdvisor's: a sample the collectors give twice (block devices
	// whose names it cannot resolve share the empty name) is left out
	// rather than failing the whole scrape.
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	return mux
}

// apiMux serves cAdvisor's REST API v1.3 (machine, containers,
// subcontainers) and /healthz.
func apiMux(s infoSource) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/api/v1.3/machine", func(w http.ResponseWriter, r *http.Request) {
		mi, err := s.GetMachineInfo()
		reply(w, mi, err)
	})
	mux.HandleFunc("/api/v1.3/containers/", func(w http.ResponseWriter, r *http.Request) {
		q, err := readQuery(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ci, err := s.GetContainerInfo(containerName(r.URL.Path, "/api/v1.3/containers"), q)
		reply(w, ci, err)
	})
	mux.HandleFunc("/api/v1.3/subcontainers/", func(w http.ResponseWriter, r *http.Request) {
		q, err := readQuery(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		cs, err := s.SubcontainersInfo(containerName(r.URL.Path, "/api/v1.3/subcontainers"), q)
		reply(w, cs, err)
	})
	for _, p := range []string{"/api/v1.3/containers", "/api/v1.3/subcontainers"} {
		mux.Handle(p, http.RedirectHandler(p+"/", http.StatusMovedPermanently))
	}
	return mux
}

// containerName is the cgroup path after the API prefix ("/" for none).
func containerName(path, prefix string) string {
	name := strings.TrimPrefix(path, prefix)
	if name == "" || name == "/" {
		return "/"
	}
	return "/" + strings.Trim(name, "/")
}

// readQuery reads the optional JSON ContainerInfoRequest body, as
// cAdvisor's API does; without one, the last 60 samples.
func readQuery(r *http.Request) (*info.ContainerInfoRequest, error) {
	q := &info.ContainerInfoRequest{NumStats: 60}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxRequest {
		return nil, fmt.Errorf("request body over %d bytes", maxRequest)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return q, nil
	}
	if err := json.Unmarshal(body, q); err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	return q, nil
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
