"""Provisioning of a real Asterisk 22: a Debian sid root filesystem entered with chroot."""
