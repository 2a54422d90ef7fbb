from __future__ import annotations

from tinyfleet.package import read_package


def test_digits_package_fixture_and_variants(digits_package) -> None:
    pkg = read_package(digits_package.package_path, digits_package.trusted_keys)
    assert pkg.name == "digits" and pkg.version == "1.0.0" and pkg.security_counter == 1
    assert digits_package.tflite_path.read_bytes() == pkg.artifact("model.tflite")
    v2 = read_package(digits_package.variant("1.1.0", 2), digits_package.trusted_keys)
    assert (v2.version, v2.security_counter) == ("1.1.0", 2)
    assert v2.artifact("model.tflite") == pkg.artifact("model.tflite")
    bad = read_package(digits_package.variant("1.2.0", 3, failing_selftest=True), digits_package.trusted_keys)
    passed, _ = bad.golden.check(pkg.golden.outputs, tolerance=0)
    assert not passed
    assert pkg.golden.check(pkg.golden.outputs, tolerance=0)[0]
