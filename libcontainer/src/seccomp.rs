//! seccomp: an OCI `linux.seccomp` profile compiled to BPF and installed in
//! the container's init. (Being written.)
