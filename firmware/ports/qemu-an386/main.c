/* main.c — the qemu-an386 firmware: board setup, then the portable core's loop (hal.h). */
#include "app.h"
#include "port.h"

int main(void)
{
    board_setup();
    device_init();
    for (;;) {
        device_poll();
        board_idle();
    }
}
