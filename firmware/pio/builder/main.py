"""SCons build script of the tinyfleet-qemu dev-platform (run by PlatformIO, not imported).

Compiles the sources the project's `build_src_filter` selects for the Cortex-M4F with the
hard-float ABI, links them with the port's linker script and the flash/RAM budget of the board
(--defsym: the script turns them into MEMORY regions, so an image that does not fit fails to
link), writes firmware.bin and prints PlatformIO's flash/RAM usage against the same budget.
"""

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()

flash_bytes = int(board.get("build.flash_bytes"))
slot_bytes = int(board.get("build.model_slot_bytes"))
sector_bytes = int(board.get("build.sector_bytes"))
store_bytes = int(board.get("build.state_sectors")) * sector_bytes + 2 * slot_bytes
fw_bytes = flash_bytes - store_bytes
ram_bytes = int(board.get("upload.maximum_ram_size"))
stack_bytes = int(board.get("build.stack_bytes"))
if fw_bytes != int(board.get("upload.maximum_size")):
    raise SystemExit(
        f"board {env['BOARD']}: upload.maximum_size must be flash - model store = {fw_bytes} bytes"
    )

# the board's FPU (build.fpu); a board without one uses the soft-float ABI
fpu = board.get("build.fpu", "")
cpu_flags = ["-mcpu={}".format(board.get("build.cpu")), "-mthumb"] + (
    ["-mfloat-abi=hard", f"-mfpu={fpu}"] if fpu else ["-mfloat-abi=soft"]
)

env.Replace(
    AR="arm-none-eabi-ar",
    AS="arm-none-eabi-as",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    GDB="arm-none-eabi-gdb",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.ARM\.exidx)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
)

env.Append(
    ASFLAGS=cpu_flags,
    CCFLAGS=cpu_flags
    + ["-Os", "-g3", "-ffunction-sections", "-fdata-sections", "-fno-common", "-Wall", "-Wextra", "-Werror"],
    CFLAGS=["-std=c11"],
    CPPDEFINES=[
        ("F_CPU", "$BOARD_F_CPU"),
        ("TF_BOARD_NAME", '\\"{}\\"'.format(env["BOARD"])),
        ("TF_ARENA_BYTES", "{}u".format(int(board.get("build.arena_bytes")))),  # boards.toml arena_budget
    ],
    LINKFLAGS=cpu_flags
    + [
        "-nostartfiles",
        "--specs=nano.specs",
        "-Wl,--gc-sections",
        "-Wl,--print-memory-usage",
        f"-Wl,--defsym=__tf_flash_size={flash_bytes}",
        f"-Wl,--defsym=__tf_fw_size={fw_bytes}",
        f"-Wl,--defsym=__tf_store_size={store_bytes}",
        f"-Wl,--defsym=__tf_ram_size={ram_bytes}",
        f"-Wl,--defsym=__tf_stack_size={stack_bytes}",
    ],
    LIBS=["c_nano", "m", "gcc"],
    BUILDERS=dict(
        ElfToBin=Builder(
            action=env.VerboseAction("$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"), suffix=".bin"
        ),
    ),
)
env.Replace(LDSCRIPT_PATH="$PROJECT_DIR/{}".format(board.get("build.ldscript")))

target_elf = env.BuildProgram()
target_bin = env.ElfToBin("$BUILD_DIR/${PROGNAME}", target_elf)

AlwaysBuild(env.Alias("nobuild", target_bin))
AlwaysBuild(
    env.Alias(
        "checkprogsize", target_elf, env.VerboseAction(env.CheckUploadSize, "Checking size $PIOMAINPROG")
    )
)
AlwaysBuild(env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE")))
Default([target_bin, "checkprogsize"])
