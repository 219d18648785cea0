// Package pkgbuild implements `keel pkg build`: it turns a package
// directory holding a build.yml into a single-layer OCI image in Keel's
// cache, without Docker.
//
// build.yml (unknown keys are errors, reported as file:line:column):
//
//	image: init              # required; the reference is <org>/<image>:<tag>
//	org: keel                # default "keel"
//	arches: [amd64, arm64]   # what it can be built for (default: every
//	                         # architecture Keel builds); --arch all builds these
//	from: ../base            # optional base: a package directory (relative to
//	                         # build.yml, starting with . or /) or an image
//	                         # pinned by digest (name@sha256:...); this
//	                         # package's layer goes on top of its layers
//	go:                      # Go main packages, built static for linux/<arch>
//	  - package: ./init      # relative to the module root (the dir with go.mod,
//	                         # found upward), or an import path required by go.mod
//	    output: /init        # path in the image (mode 0755)
//	    cgo: false           # true: cgo with -extldflags -static
//	    tags: [netgo]
//	files:                   # later entries override earlier ones and Debian files
//	  - source: a.conf       # relative to build.yml's dir; mode defaults to the file's
//	    path: /etc/a.conf
//	    mode: "0644"
//	  - path: /etc/motd      # inline content, default mode 0644
//	    contents: "hi\n"
//	  - path: /var/empty     # directory, default mode 0755
//	    directory: true
//	  - path: /bin/sh        # symlink
//	    symlink: busybox
//	  - path: /etc/ssl/certs/ca-certificates.crt   # the files already in the
//	    concat: /usr/share/ca-certificates/*/*.crt # image matching the glob,
//	                         # joined in sorted order (default mode 0644)
//	  - path: /usr/share/doc # drops the path and all below it from what
//	    remove: true         # earlier sources added
//	debian:                  # files of these Debian packages (no maintainer
//	  - busybox-static       # scripts; owners become root): a name is the
//	  - name: e2fsprogs      # package alone; dependencies: true adds its
//	    dependencies: true   # Depends/Pre-Depends closure, unpacked first
//	config: {binds: [...]}   # JSON in the org.mobyproject.config label
//	entrypoint: [...]        # image config Entrypoint, Cmd, Env, WorkingDir
//	cmd: [...]
//	env: [...]
//	workdir: /
//	kernel:                  # the package is a kernel image (see packer/kernel);
//	  debian: linux-image-cloud-{arch}  # excludes every key but image, org and debian
//	  modules: all           # optional: the image recommends keeping every module
//	                         # (debian: then lists firmware packages for kernel.tar)
//
// Options.Arch picks the architecture (amd64 by default, arm64, or ArchAll
// for an image index of both): Go binaries get GOARCH, cgo ones Debian's
// cross compiler; Debian packages come from that architecture's archive and
// are locked in LockFileFor(arch); {arch} in the kernel package name is
// replaced. Tags of other architectures than amd64 hash the architecture.
//
// Go binaries are built with -trimpath -buildvcs=false -ldflags "-s -w".
// Debian packages are fetched with `apt-get download` at the candidate
// version of the host's apt lists into a .deb cache and verified against the
// lists' SHA-256. A dependency closure is resolved from the same lists (see
// debClosure): the first of alternatives, a virtual package by its only
// provider or by a listed package providing it; Essential packages that
// nothing declares are not added.
//
// The tag is the first TagLength hex digits of a SHA-256 over every input:
// build.yml, each file source's bytes and mode, the Go version, each Go
// binary's options and the content of every main-module source file in its
// dependency closure plus go.mod and go.sum, and the exact Debian package
// versions (name, version, architecture, SHA-256), kernel included, and
// from:'s reference (a base package's own tag, so a change there changes
// this tag). Computing
// it compiles and downloads nothing. Building builds a missing base package
// first (or pulls a pinned base image); the config is the base's with each
// key this package sets replacing it (Env by variable, the config: label as
// a whole). The image itself is deterministic (see
// image.NewImage), so the same inputs give the same digest.
package pkgbuild
