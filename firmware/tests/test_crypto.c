/* SHA-256 (ours) and the vendored Monocypher's SHA-512 (FIPS 180-4 examples and a 300-length
 * sweep against Python's hashlib), and Ed25519 verification (RFC 8032 section 7.1 vectors;
 * signatures made by Python's `cryptography` over a real device manifest). */
#include <stdint.h>

#include "core_check.h"
#include "core_fixtures.h"
#include "monocypher-ed25519.h"
#include "tf_crypto.h"

static void test_sha256_known_answers(void)
{
    uint8_t d[32], want[32];
    tf_sha256("abc", 3, d);
    core_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
    CHECK_MEM(d, want, 32);
    tf_sha256("", 0, d);
    core_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, 32);
    CHECK_MEM(d, want, 32);
    const char *m2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    tf_sha256(m2, strlen(m2), d);
    core_hex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", want, 32);
    CHECK_MEM(d, want, 32);
    /* one million 'a', fed in uneven pieces */
    tf_sha256_t h;
    uint8_t buf[997];
    memset(buf, 'a', sizeof buf);
    tf_sha256_init(&h);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof buf ? left : sizeof buf;
        tf_sha256_update(&h, buf, n);
        left -= n;
    }
    tf_sha256_final(&h, d);
    core_hex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", want, 32);
    CHECK_MEM(d, want, 32);
}

static void test_sha512_known_answers(void)
{
    uint8_t d[64], want[64];
    crypto_sha512(d, (const uint8_t *)"abc", 3);
    core_hex("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
             "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f", want, 64);
    CHECK_MEM(d, want, 64);
    const char *m2 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    crypto_sha512(d, (const uint8_t *)m2, strlen(m2));
    core_hex("8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
             "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909", want, 64);
    CHECK_MEM(d, want, 64);
}

/* Every length 0..299 (all padding branches), one byte at a time and in one call. */
static void test_length_sweep(void)
{
    uint8_t msg[300];
    for (int i = 0; i < 300; i++) msg[i] = (uint8_t)((7 * i + 3) & 0xFF);
    tf_sha256_t chain256;
    tf_sha256_t chain512;
    tf_sha256_init(&chain256);
    tf_sha256_init(&chain512);
    int split_mismatch = 0;
    for (size_t n = 0; n < 300; n++) {
        uint8_t d[32], e[32], d5[64], e5[64];
        tf_sha256(msg, n, d);
        tf_sha256_t h;
        tf_sha256_init(&h);
        for (size_t i = 0; i < n; i++) tf_sha256_update(&h, msg + i, 1);
        tf_sha256_final(&h, e);
        split_mismatch += memcmp(d, e, 32) != 0;
        tf_sha256_update(&chain256, d, 32);
        crypto_sha512(d5, msg, n);
        crypto_sha512_ctx h5;
        crypto_sha512_init(&h5);
        crypto_sha512_update(&h5, msg, n / 3);
        crypto_sha512_update(&h5, msg + n / 3, n - n / 3);
        crypto_sha512_final(&h5, e5);
        split_mismatch += memcmp(d5, e5, 64) != 0;
        tf_sha256_update(&chain512, d5, 64);
    }
    uint8_t out[32];
    tf_sha256_final(&chain256, out);
    CHECK_MEM(out, FX_SHA256_CHAIN, 32);
    tf_sha256_final(&chain512, out);
    CHECK_MEM(out, FX_SHA512_CHAIN, 32);
    CHECK_EQ(split_mismatch, 0);
}

/* RFC 8032, 7.1: TEST 1 (empty message), TEST 2 (one byte), TEST 3 (two bytes). */
static void test_ed25519_rfc8032(void)
{
    static const char *const V[3][3] = {
        { "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
          "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
        { "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
          "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
        { "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
          "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
    };
    for (int i = 0; i < 3; i++) {
        uint8_t pk[32], sig[64], msg[2];
        size_t n = strlen(V[i][1]) / 2;
        core_hex(V[i][0], pk, 32);
        core_hex(V[i][1], msg, n);
        core_hex(V[i][2], sig, 64);
        CHECK(tf_ed25519_verify(sig, pk, msg, n));
        sig[10] ^= 0x01;
        CHECK(!tf_ed25519_verify(sig, pk, msg, n));
    }
}

/* A device manifest signed by Python's `cryptography` (the compiler's signer). */
static void test_ed25519_device_manifest(void)
{
    uint8_t raw[224];
    memcpy(raw, FX_V1_BEGIN, sizeof raw);
    CHECK(tf_ed25519_verify(raw + 160, FX_PUBKEY, raw, 160));
    /* any flipped bit of the manifest, of R or of S is refused */
    int accepted = 0;
    for (int byte = 0; byte < 224; byte += 7) {
        raw[byte] ^= 0x10;
        accepted += tf_ed25519_verify(raw + 160, FX_PUBKEY, raw, 160);
        raw[byte] ^= 0x10;
    }
    CHECK_EQ(accepted, 0);
    /* signed by another key */
    CHECK(!tf_ed25519_verify(FX_OTHERKEY_BEGIN + 160, FX_PUBKEY, FX_OTHERKEY_BEGIN, 160));
    /* S >= L (S + L, a malleated signature) is refused */
    static const uint8_t L[32] = { 0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                   0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0x10 };
    uint8_t mal[224];
    memcpy(mal, FX_V1_BEGIN, sizeof mal);
    unsigned carry = 0;
    for (int i = 0; i < 32; i++) {
        unsigned v = mal[192 + i] + L[i] + carry;
        mal[192 + i] = (uint8_t)v;
        carry = v >> 8;
    }
    CHECK(!tf_ed25519_verify(mal + 160, FX_PUBKEY, mal, 160));
}

static void test_ct_equal(void)
{
    CHECK(tf_ct_equal("abcd", "abcd", 4));
    CHECK(!tf_ct_equal("abcd", "abce", 4));
    CHECK(tf_ct_equal("", "x", 0));
}

int main(void)
{
    test_sha256_known_answers();
    test_sha512_known_answers();
    test_length_sweep();
    test_ed25519_rfc8032();
    test_ed25519_device_manifest();
    test_ct_equal();
    return core_report("test_crypto");
}
