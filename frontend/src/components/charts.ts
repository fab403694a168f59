// ECharts: register only what the dashboard draws.
import { use } from 'echarts/core'
import { CanvasRenderer } from 'echarts/renderers'
import { BarChart, LineChart, PieChart } from 'echarts/charts'
import { DatasetComponent, GridComponent, LegendComponent, TooltipComponent } from 'echarts/components'

use([CanvasRenderer, BarChart, LineChart, PieChart, GridComponent, TooltipComponent, LegendComponent, DatasetComponent])

// Colours come from utils/colors.ts: one per series key, the same on every chart.
export { SERIES_PALETTE as PALETTE, seriesColor, seriesColors, OUTCOME_COLORS } from '@/utils/colors'
